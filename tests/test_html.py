import codecs

from curation.sources.html import JustextKorean, decode_html, normalise_charset, stoplist

KOREAN = "한국어 웹 페이지의 본문입니다. 똠방각하와 햏자는 CP949에만 있는 글자입니다."


def page(body: str, meta: str | None = None) -> str:
    head = f'<meta charset="{meta}">' if meta else ""
    return f"<html><head>{head}<title>t</title></head><body><p>{body}</p></body></html>"


def test_utf8_with_meta_declaration():
    decoded = decode_html(page(KOREAN, "utf-8").encode("utf-8"))
    assert KOREAN in decoded.text
    assert decoded.encoding == "utf-8" and decoded.charset_source == "meta"


def test_euc_kr_label_decodes_cp949_only_syllables():
    # 똠 and 햏 are outside KS X 1001: strict EUC-KR refuses them, CP949 (what browsers use
    # for the EUC-KR label) decodes them.
    payload = page(KOREAN, "EUC-KR").encode("cp949")
    try:
        payload.decode("euc_kr")
        raise AssertionError("fixture should not be valid strict EUC-KR")
    except UnicodeDecodeError:
        pass
    decoded = decode_html(payload)
    assert KOREAN in decoded.text
    assert decoded.encoding == "cp949" and not decoded.replaced


def test_http_charset_wins_over_meta_when_it_decodes():
    payload = page("가나다라 마바사", "iso-8859-1").encode("cp949")
    decoded = decode_html(payload, "text/html; charset=ks_c_5601-1987")
    assert "가나다라 마바사" in decoded.text and decoded.charset_source == "http"


def test_wrong_declared_charset_falls_through():
    # Header and meta both claim UTF-8, but the bytes are CP949: detection must recover Korean.
    payload = page("대한민국의 수도는 서울입니다. 서울에는 많은 사람이 삽니다. " * 5, "utf-8").encode("cp949")
    decoded = decode_html(payload, "text/html; charset=utf-8")
    assert "대한민국의 수도는 서울입니다" in decoded.text
    assert decoded.charset_source in {"detected", "fallback"}


def test_undeclared_legacy_page_is_detected():
    payload = ("<html><body><p>" + "한국어 문서의 인코딩을 자동으로 찾아냅니다. " * 10
               + "</p></body></html>").encode("cp949")
    decoded = decode_html(payload)
    assert "자동으로 찾아냅니다" in decoded.text and not decoded.replaced


def test_bom_is_honoured():
    decoded = decode_html(codecs.BOM_UTF8 + page(KOREAN).encode("utf-8"))
    assert decoded.charset_source == "bom" and KOREAN in decoded.text


def test_charset_label_normalisation():
    assert normalise_charset("EUC-KR") == "cp949"
    assert normalise_charset("ks_c_5601-1987") == "cp949"
    assert normalise_charset("UTF8") == "utf-8"
    assert normalise_charset("no-such-charset") is None


def test_euckr_twin_extracts_to_same_text_as_utf8_original(fixtures_dir):
    extractor = JustextKorean()
    utf8 = decode_html((fixtures_dir / "twin_utf8.html").read_bytes())
    euckr = decode_html((fixtures_dir / "twin_euckr.html").read_bytes())
    assert euckr.encoding == "cp949"
    assert utf8.encoding == "utf-8"
    text = extractor.extract(utf8.text)
    assert len(text) > 200
    assert extractor.extract(euckr.text) == text


def test_extractor_keeps_prose_and_drops_navigation():
    prose = ("서울특별시는 대한민국의 수도이며 정치, 경제, 사회, 문화의 중심지이다. 한강이 도시를 가로질러 흐르고 "
             "있으며 조선 시대부터 수도의 역할을 해 왔다.")
    nav = "".join(f'<li><a href="/m{i}">메뉴 {i}</a></li>' for i in range(12))
    html = f"<html><body><ul>{nav}</ul><p>{prose}</p><div>Copyright 2026</div></body></html>"
    text = JustextKorean().extract(html)
    assert prose in text
    assert "메뉴 3" not in text and "Copyright" not in text


def test_jusText_english_defaults_lose_korean_prose_that_ours_keep():
    import justext

    prose = ("한국어 문단은 글자 수가 적어도 정보가 많다. 영어 기준의 길이 문턱은 한국어 본문을 버린다. "
             "그래서 문턱을 낮춘다.")
    html = f"<html><body><p>{prose}</p><p>{prose} 두 번째 문단이다.</p></body></html>"
    defaults = [p for p in justext.justext(html, justext.get_stoplist("Korean")) if not p.is_boilerplate]
    assert defaults == []
    assert prose in JustextKorean().extract(html)


def test_the_faster_jusText_paths_give_jusTexts_own_strings_and_extractions():
    import random
    from pathlib import Path

    from curation.sources import justext_speed

    assert justext_speed.install()  # the pinned jusText is the version the equivalents were checked on
    original = justext_speed.ORIGINALS["utils"]
    rng = random.Random(5)
    pieces = ["a", "가", " ", "  ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\x0b", "\x0c", "\x1c", "\u2028",
              " \n ", "\t\r", "."]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(5000)]
    assert all(justext_speed.normalize_whitespace(t) == original(t) for t in texts)
    import re
    import sys

    # the shortcut's premise: ASCII space is the only character that is whitespace and printable
    whitespace = re.compile(r"\s")
    assert [c for c in map(chr, range(sys.maxunicode + 1)) if c.isprintable() and whitespace.match(c)] == [" "]
    pages = sorted(Path(__file__).resolve().parents[1].joinpath("data", "bench", "html").glob("*.html"))[:40]
    assert len(pages) == 40
    html = [decode_html(p.read_bytes()).text for p in pages]
    import justext

    def paragraphs():  # every field jusText gives a paragraph, its lazily built paths included
        return [[(p.dom_path, p.xpath, p.text, p.tags_count, p.chars_count_in_links, p.class_type, p.is_heading,
                  p.cf_class, p.stopwords_density(stops)) for p in justext.justext(h, stops)] for h in html]

    stops = stoplist()

    fast, fast_paragraphs = [JustextKorean().extract(h) for h in html], paragraphs()
    justext_speed.uninstall()
    try:
        slow, slow_paragraphs = [JustextKorean().extract(h) for h in html], paragraphs()
    finally:
        justext_speed.install()
    assert fast == slow and sum(len(t) for t in fast) > 10_000
    assert fast_paragraphs == slow_paragraphs and sum(map(len, fast_paragraphs)) > 400
    assert len({p[7] for page in fast_paragraphs for p in page}) >= 3  # short, neargood, good, bad: densities mattered


def test_the_direct_tree_walk_gives_saxifys_paragraphs_on_awkward_trees():
    import lxml.etree as etree
    import lxml.html
    from justext.core import ParagraphMaker, preprocessor

    from curation.sources import justext_speed

    assert justext_speed.install()
    saxified = justext_speed.ORIGINALS["make_paragraphs"].__func__

    def fields(make, root):
        try:
            paragraphs = make(ParagraphMaker, root)
            return [(p.dom_path, p.xpath, p.text, p.tags_count, p.chars_count_in_links) for p in paragraphs]
        except Exception as error:  # the same failure counts as the same result
            return type(error).__name__

    # processing instructions around and inside the root, comments with tails, <br> runs,
    # links, a prefixed tag, inline SVG, a form's select (jusText's 'select' rule), a table
    page = ('<?xml version="1.0"?><?pi one?><!DOCTYPE html><html><head><title>제목</title></head><body>'
            '<!-- 주석 -->꼬리<p>가<br>나<br><br>다<a href="/x">링크 글</a> 뒤</p><?php echo 1; ?>처리 뒤'
            '<x:foo>접두</x:foo><svg xmlns="http://www.w3.org/2000/svg"><text>그림</text></svg>'
            '<form><select><option>선택</option></select></form><table><tr><td>칸 <b>굵게</b></td></tr></table>'
            '</body></html><?pi after?>')
    dom = lxml.html.fromstring(page)
    trees = [dom, preprocessor(dom), dom.getroottree()]
    namespaced = etree.Element("{urn:x}html")  # saxify's own path: a namespaced tag
    etree.SubElement(namespaced, "{urn:x}p").text = "이름공간"
    with_entity = lxml.html.fromstring("<html><body><p>x</p></body></html>")
    with_entity[0][0].append(etree.Entity("amp"))  # saxify fails on an entity node: so must the walk
    trees += [namespaced, with_entity]
    results = [(fields(justext_speed._make_paragraphs, t), fields(saxified, t)) for t in trees]
    assert all(fast == slow for fast, slow in results)
    walked = [fields(lambda _, root: justext_speed._paragraphs(root), t) for t in (dom, preprocessor(dom))]
    assert walked == [results[0][1], results[1][1]]  # by the walk itself, not its fallback
    assert len(results[0][0]) >= 5 and results[3][0] == [("html.p", "/html[1]/p[1]", "이름공간", 0, 0)]
    assert results[4][0] == "TypeError"


def test_a_remembered_paragraph_text_follows_appended_text():
    from justext.core import PathInfo
    from justext.paragraph import Paragraph

    from curation.sources import justext_speed

    assert justext_speed.install()
    paragraph = Paragraph(PathInfo().append("body").append("p"))
    paragraph.append_text("첫  문장")
    assert paragraph.text == "첫 문장" and paragraph.dom_path == "body.p" and paragraph.xpath == "/body[1]/p[1]"
    paragraph.append_text("\n둘째")  # after the text was read
    assert paragraph.text == "첫 문장\n둘째" and len(paragraph) == 7


def test_cleaning_in_place_with_one_cleaner_gives_jusTexts_cleaned_tree():
    from pathlib import Path

    import lxml.etree as etree
    from justext.core import html_to_dom
    from justext.core import preprocessor as justexts

    from curation.sources import justext_speed

    assert justext_speed.install() and justext_speed.preprocessor() is justext_speed.preprocess
    pages = sorted(Path(__file__).resolve().parents[1].joinpath("data", "bench", "html").glob("*.html"))[:40]
    html = [decode_html(p.read_bytes()).text for p in pages]
    html += ['<?pi before?><html><head><script>x</script><style>p{}</style></head><body><!-- c --><p>본문</p>'
             '<form><input><select><option>선택</option></select></form><iframe src="/x"></iframe>'
             '<object><param name="a"></object><image src="a.png"><button>눌러</button></body></html><?pi after?>',
             "<p>조각 하나</p>", "<div>조각</div><div>둘</div>", "<html><body><embed src=x>글</body></html>"]

    def cleaned(clean, page):
        tree = clean(html_to_dom(page))
        return (etree.tostring(tree, encoding="unicode", with_tail=True),
                [etree.tostring(s, encoding="unicode") for s in tree.itersiblings(preceding=True)],
                [etree.tostring(s, encoding="unicode") for s in tree.itersiblings()])

    ours, theirs = [cleaned(justext_speed.preprocess, h) for h in html], [cleaned(justexts, h) for h in html]
    assert ours == theirs
    plain = html_to_dom(html[0])
    assert justext_speed.preprocess(plain) is plain  # a whole page is cleaned in place, not copied
    assert "본문" in ours[40][0] and "script" not in ours[40][0] and "선택" not in ours[40][0]
