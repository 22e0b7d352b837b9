"""Progress lines: documents, rate, tokens and an ETA, reported at most every `every_s`."""

from curation.progress import Progress


def test_a_progress_line_has_the_rate_tokens_and_eta():
    lines = []
    progress = Progress("stage", total=1000, report=lines.append, every_s=0.0)
    progress.add(250, tokens=5000)
    assert lines and lines[-1].startswith("stage: 250 of 1,000 documents (")
    assert "tokens/s" in lines[-1] and "ETA" in lines[-1]
    progress.add(750)
    assert "ETA" not in progress.line()  # done


def test_reports_are_rate_limited():
    lines = []
    progress = Progress("stage", report=lines.append, every_s=3600)
    for _ in range(100):
        progress.add(10)
    assert lines == [] and progress.documents == 1000 and "of" not in progress.line()
