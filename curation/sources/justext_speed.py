"""Two hot spots of jusText 3.0.2, replaced by equivalents that give the same strings.

Profiled on the bench's Korean pages, 41 % of extraction time went to
`justext.utils.normalize_whitespace`: a regex substitution with a Python callback for every
whitespace run (each single space included), run again every time a paragraph's `text` is
read (its length, word count and stop-word count each read it). Here:

- `normalize_whitespace` is two C-level substitutions without callbacks: runs holding a line
  break (or carriage return) become "\\n", the other whitespace runs " ", exactly as the
  callback decides (a run is maximal, so the "\\n" left by the first pass stands between
  non-space characters and is not touched by the second);
- `Paragraph.text` is remembered in the paragraph until a text node is appended (the only way
  jusText changes a paragraph's text), as a plain attribute once read;
- `Paragraph.stopwords_density` splits the text once (jusText splits it three times: twice
  for the word count, once for the stop words) and looks the lower-cased words up with C-level
  `map`;
- `ParagraphMaker._start_new_pragraph` keeps a paragraph when it has text nodes and its text
  is not empty; jusText asks `if self.paragraph` first, which (Paragraph has `__len__`)
  builds the text of every paragraph, the many empty ones included;
- a paragraph's `dom_path` and `xpath` strings are built when first read, from a snapshot of
  the element path taken when the paragraph starts (a tuple of the path's (tag, order,
  children) triples: tag and order never change). jusText starts a paragraph at every block
  element's start and end and drops those that hold no text, so most paths were joined into
  two strings for nothing;
- `ParagraphMaker.make_paragraphs` walks the cleaned tree itself (`_paragraphs`): the maker's
  handlers inlined into one loop over lxml's iterwalk events, in the order `lxml.sax.saxify`
  feeds them. saxify builds, for every element, its namespace map, a dict of its attributes
  and their qualified names, none of which the maker reads, and each event cost the maker
  three Python calls (a third of jusText's time on the bench pages). A tree that holds anything
  saxify treats otherwise (a namespaced tag, an entity node) goes through saxify;
- `preprocess`, handed to `justext.justext` as its preprocessor, cleans with one Cleaner and
  in place rather than a new Cleaner and a deep copy per page.

`install()` applies both to the installed jusText once, only for the version they were written
against; tests check the outputs against the original functions.
"""

from __future__ import annotations

import re
from itertools import chain

from lxml.etree import ProcessingInstruction, iterwalk

JUSTEXT_VERSION = "3.0.2"
_LINE_BREAK_RUN = re.compile(r"\s*[\n\r]\s*")
_OTHER_RUN = re.compile(r"[^\S\n\r]+")
_installed = False
ORIGINALS: dict = {}  # what install() replaced, for uninstall() and the equivalence tests


def normalize_whitespace(text: str) -> str:
    """jusText's normalize_whitespace, without a Python callback per whitespace run. A text
    whose only whitespace is single ASCII spaces is returned as it is: the space is the one
    character both `str.isspace` (= regex `\\s`) and `str.isprintable` accept (checked over
    every code point in the tests), so such a text has no run to rewrite."""
    if "  " not in text and text.isprintable():
        return text
    return _OTHER_RUN.sub(" ", _LINE_BREAK_RUN.sub("\n", text))


class _Remembered:
    """A paragraph attribute computed when first read and then kept in the paragraph's own
    __dict__ under the attribute's name: a non-data descriptor, so every later read is a plain
    attribute lookup (jusText reads a paragraph's text six times or more)."""

    def __init__(self, name: str, compute) -> None:
        self.name, self.compute = name, compute

    def __get__(self, paragraph, owner=None):
        if paragraph is None:
            return self
        value = paragraph.__dict__[self.name] = self.compute(paragraph)
        return value


def _text(paragraph) -> str:
    return normalize_whitespace("".join(paragraph.text_nodes).strip())


def _append_text(paragraph, text: str) -> str:
    # jusText's append_text, the only way it changes a paragraph's text: the remembered text
    # is dropped with it (code that appends to text_nodes directly would read a stale text)
    text = normalize_whitespace(text)
    paragraph.text_nodes.append(text)
    paragraph.__dict__.pop("text", None)
    return text


def _paragraph_init(paragraph, path) -> None:
    paragraph._path = tuple(path._elements)
    paragraph.text_nodes = []
    paragraph.chars_count_in_links = 0
    paragraph.tags_count = 0
    paragraph.class_type = ""  # short | neargood | good | bad


def _dom_path(paragraph) -> str:
    return ".".join(e[0] for e in paragraph._path)


def _xpath(paragraph) -> str:
    return "/" + "/".join(f"{e[0]}[{e[1]:d}]" for e in paragraph._path)


def _stopwords_density(paragraph, stopwords) -> float:
    words = paragraph.text.split()
    if not words:
        return 0
    return sum(map(stopwords.__contains__, map(str.lower, words))) / len(words)


def _start_new_paragraph(maker) -> None:
    current = maker.paragraph
    # jusText: `if current and current.contains_text()`, i.e. len(current.text) > 0 and
    # current.text_nodes; the text is empty whenever there are no text nodes
    if current is not None and current.text_nodes and current.text:
        maker.paragraphs.append(current)
    maker.paragraph = _PARAGRAPH(maker.path)


_PARAGRAPH = None  # justext.paragraph.Paragraph, set by install()


class _NeedsSaxify(Exception):
    """The tree holds a node the direct walk does not reproduce saxify's events for."""


_EVENTS = ("start", "end", "comment", "pi")


def _siblings(element, step: str) -> list:
    # the processing instructions saxify visits before and after the root element
    found = []
    sibling = getattr(element, step)()
    while getattr(sibling, "tag", None) is ProcessingInstruction:
        found.append(sibling)
        sibling = getattr(sibling, step)()
    return found


def _paragraphs(root) -> list:
    """jusText's ParagraphMaker over saxify's events, in one loop: its start / end / characters
    handlers and PathInfo.append / pop inlined, state in locals, the events from lxml's C
    iterwalk. saxify reports an element's text after its start, its tail after its end, and a
    comment's or processing instruction's tail only; the maker ignores everything else."""
    from justext.core import PARAGRAPH_TAGS, PathInfo

    path = PathInfo()
    elements = path._elements  # (tag, order, children) triples, as PathInfo.append makes them
    paragraphs: list = []
    paragraph = _PARAGRAPH(path)
    link = br = False
    events = chain((("pi", s) for s in _siblings(root, "getprevious")[::-1]), iterwalk(root, events=_EVENTS),
                   (("pi", s) for s in _siblings(root, "getnext")))
    for event, element in events:
        if event == "start":
            tag = element.tag
            if type(tag) is not str or tag[:1] in ("{", ""):
                raise _NeedsSaxify
            children = elements[-1][2] if elements else {}
            order = children[tag] = children.get(tag, 0) + 1
            elements.append((tag, order, {}))
            if tag in PARAGRAPH_TAGS or (tag == "br" and br):
                if tag == "br":  # <br><br> separates paragraphs and is not one of its tags
                    paragraph.tags_count -= 1
                if paragraph.text_nodes and paragraph.text:
                    paragraphs.append(paragraph)
                paragraph = _PARAGRAPH(path)
            else:
                br = tag == "br"
                if br:
                    paragraph.append_text(" ")
                elif tag == "a":
                    link = True
                paragraph.tags_count += 1
            content = element.text
        elif event == "end":
            tag = element.tag
            elements.pop()
            if tag in PARAGRAPH_TAGS:
                if paragraph.text_nodes and paragraph.text:
                    paragraphs.append(paragraph)
                paragraph = _PARAGRAPH(path)
            if tag == "a":
                link = False
            content = element.tail
        else:
            content = element.tail
        if content and not content.isspace():
            text = paragraph.append_text(content)
            if link:
                paragraph.chars_count_in_links += len(text)
            br = False
    if paragraph.text_nodes and paragraph.text:  # endDocument
        paragraphs.append(paragraph)
    return paragraphs


def _make_paragraphs(cls, root) -> list:
    saxified = ORIGINALS["make_paragraphs"].__func__
    if cls is not _PARAGRAPH_MAKER:  # a subclass may handle events its own way
        return saxified(cls, root)
    try:
        return _paragraphs(root.getroot() if hasattr(root, "getroot") else root)
    except _NeedsSaxify:
        return saxified(cls, root)


_PARAGRAPH_MAKER = None  # justext.core.ParagraphMaker, set by install()


# jusText 3.0.2's preprocessor options (justext.core.preprocessor), tested equal in effect
_CLEANER_OPTIONS = {"processing_instructions": False, "remove_unknown_tags": False, "safe_attrs_only": False,
                    "page_structure": False, "annoying_tags": False, "frames": False, "meta": False, "links": False,
                    "javascript": False, "scripts": True, "comments": True, "style": True, "embedded": True,
                    "forms": True, "kill_tags": ("head",)}
_cleaner = None


def preprocess(dom):
    """jusText's preprocessor without two per-page costs: a new Cleaner for every page (one
    serves all: cleaning only reads its options) and a deep copy of the tree it cleans (jusText
    parsed that tree for this call alone and drops it: cleaning it in place gives the same
    tree). A tree the copy would change is copied as jusText does: an element that is not its
    document's root, or a root with siblings (processing instructions, which the copy drops)."""
    global _cleaner
    if _cleaner is None:
        from lxml.html.clean import Cleaner

        _cleaner = Cleaner(**_CLEANER_OPTIONS)
    if dom.getparent() is not None or dom.getprevious() is not None or dom.getnext() is not None:
        return _cleaner.clean_html(dom)
    _cleaner(dom)
    return dom


def preprocessor():
    """The preprocessor to hand `justext.justext`: `preprocess` when the equivalents are
    installed (the pinned jusText), else jusText's own."""
    from justext.core import preprocessor as justexts

    return preprocess if _installed else justexts


def install() -> bool:
    """Patch the installed jusText if it is the version these equivalents were checked on."""
    global _installed
    if _installed:
        return True
    from importlib.metadata import version

    if version("jusText") != JUSTEXT_VERSION:
        return False
    global _PARAGRAPH, _PARAGRAPH_MAKER
    from justext import core, paragraph, utils

    _PARAGRAPH, _PARAGRAPH_MAKER = paragraph.Paragraph, core.ParagraphMaker
    ORIGINALS.update(start=core.ParagraphMaker._start_new_pragraph,
                     make_paragraphs=core.ParagraphMaker.__dict__["make_paragraphs"],
                     utils=utils.normalize_whitespace, paragraph=paragraph.normalize_whitespace,
                     text=paragraph.Paragraph.text, init=paragraph.Paragraph.__init__,
                     append_text=paragraph.Paragraph.append_text,
                     density=paragraph.Paragraph.stopwords_density)
    utils.normalize_whitespace = normalize_whitespace
    paragraph.normalize_whitespace = normalize_whitespace
    paragraph.Paragraph.text = _Remembered("text", _text)
    paragraph.Paragraph.append_text = _append_text
    paragraph.Paragraph.__init__ = _paragraph_init
    paragraph.Paragraph.stopwords_density = _stopwords_density
    core.ParagraphMaker._start_new_pragraph = _start_new_paragraph
    core.ParagraphMaker.make_paragraphs = classmethod(_make_paragraphs)
    paragraph.Paragraph.dom_path = _Remembered("dom_path", _dom_path)
    paragraph.Paragraph.xpath = _Remembered("xpath", _xpath)
    _installed = True
    return True


def uninstall() -> None:
    """Put jusText's own functions back."""
    global _installed
    if not _installed:
        return
    from justext import core, paragraph, utils

    core.ParagraphMaker._start_new_pragraph = ORIGINALS["start"]
    core.ParagraphMaker.make_paragraphs = ORIGINALS["make_paragraphs"]
    utils.normalize_whitespace = ORIGINALS["utils"]
    paragraph.normalize_whitespace = ORIGINALS["paragraph"]
    paragraph.Paragraph.text = ORIGINALS["text"]
    paragraph.Paragraph.append_text = ORIGINALS["append_text"]
    paragraph.Paragraph.__init__ = ORIGINALS["init"]
    paragraph.Paragraph.stopwords_density = ORIGINALS["density"]
    del paragraph.Paragraph.dom_path, paragraph.Paragraph.xpath
    _installed = False
