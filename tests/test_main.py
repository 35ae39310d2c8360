"""``python -m sklearn_subdistill``: the demonstration runs and prints its table."""

import pytest

from sklearn_subdistill.__main__ import STUDENTS, main


def test_main_prints_the_teacher_and_the_table(capsys):
    assert main(["--teacher-epochs", "2", "--student-steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "Teacher test accuracy (0-4 vs 5-9): 0." in out
    assert "Subclass recovery" in out
    header = next(line for line in out.splitlines() if line.startswith("| regime"))
    for name in (*STUDENTS, "HistGradientBoosting", "LogisticRegression"):
        assert f" {name} |" in header
    rows = [line for line in out.splitlines() if line.startswith("| low data")]
    rows += [line for line in out.splitlines() if line.startswith("| transfer")]
    assert len(rows) == 2  # one seed, one fraction, both regimes
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")][2:]
        assert len(cells) == len(header.strip("|").split("|")) - 2
        assert all(0 <= float(c) <= 100 for c in cells)


@pytest.mark.parametrize("argv", [["--subclasses", "0"], ["--student-steps", "0"]])
def test_main_refuses_bad_options(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "must be positive" in capsys.readouterr().err


def test_help_has_no_markup(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "``" not in capsys.readouterr().out
