"""The README's generated tables agree with the committed run files, and a stale one is caught."""
import pytest

from common.errors import ConfigError
from toolkit.cli import main
from toolkit.docs.tables import GENERATORS, ROOT


def test_readme_tables_match_their_run_files(capsys):
    text = (ROOT / "README.md").read_text()
    assert all(f"<!-- generated: {name} -->" in text for name in GENERATORS)
    assert main(["docs", "check"]) == 0


def test_a_hand_edited_figure_is_reported_and_refresh_restores_it(tmp_path, capsys):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- generated: vocoder -->")
    row = text.index("| GNA 2.0 i16 (emulator) + offline phase |", start)
    end = text.index("\n", row)
    readme.write_text(text[:row] + "| GNA 2.0 i16 (emulator) + offline phase | 9.999 | 9.999 |" + text[end:])
    assert main(["docs", "check", "--readme", str(readme)]) == 1
    assert "tables differ from their run files: vocoder" in capsys.readouterr().err
    assert main(["docs", "refresh", "--readme", str(readme)]) == 0
    assert readme.read_text() == text


def test_a_block_without_a_generator_is_refused(tmp_path):
    from toolkit.docs.tables import refresh

    with pytest.raises(ConfigError, match="'generated: nosuch' has no generator"):
        refresh("<!-- generated: nosuch -->\nx\n<!-- end generated -->\n")
