from datetime import UTC, datetime
from pathlib import Path

import pytest

from aaiti.config import load_settings


def test_defaults_run_the_bundled_demo(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.source == "sample"
    assert (s.exchange, s.symbols, s.timeframe) == ("coinbase", ["BTC/USD", "ETH/USD"], "4h")
    assert s.warehouse_path == Path("data/warehouse.duckdb")
    assert s.serving_path == Path("data/serving.duckdb")
    assert s.prefect_home == Path("data/prefect")
    assert s.mlflow_tracking_uri.startswith("sqlite:///")


def test_environment_and_dotenv_with_prefix(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AAITI_TIMEFRAME=1h\nAAITI_SYMBOLS=BTC/USD\n")
    monkeypatch.setenv("AAITI_SYMBOLS", "BTC/USD, ETH/USD ,LTC/USD")
    monkeypatch.setenv("AAITI_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("AAITI_REPLAY_START", "2024-06-01T00:00:00")
    s = load_settings()
    assert s.timeframe == "1h"  # from .env
    assert s.symbols == ["BTC/USD", "ETH/USD", "LTC/USD"]  # environment beats .env
    assert s.warehouse_path == tmp_path / "elsewhere" / "warehouse.duckdb"
    assert s.replay_start == datetime(2024, 6, 1, tzinfo=UTC)  # naive means UTC


def test_only_config_reads_the_environment():
    """Settings are read at the edge: no other library module touches os.environ/getenv."""
    root = Path(__file__).resolve().parents[1] / "aaiti"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "config.py" and ("os.environ" in p.read_text() or "os.getenv" in p.read_text())
    ]
    assert offenders == []


def test_the_settings_reference_is_generated_from_the_code_and_current():
    from pathlib import Path

    from aaiti.config import Settings, settings_reference

    doc = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
    assert doc.read_text() == settings_reference(), "run: python -m aaiti.config > docs/settings.md"
    assert all(f.description for f in Settings.model_fields.values())  # every one explained


def test_every_section_is_a_typed_view_of_settings_with_no_defaults_of_its_own():
    """One set of defaults (Settings', or a nested section's own); each view field has its
    setting's exact type."""
    from aaiti import config

    sections = [c for c in vars(config).values()
                if isinstance(c, type) and issubclass(c, config._Section) and c is not config._Section]  # fmt: skip
    assert len(sections) >= 4
    settings = config.Settings()
    for section in sections:
        for name, field in section.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, config._Section):
                continue  # a nested section: checked as itself
            owner, _, leaf = section.source_of(name).rpartition(".")
            fields = (config.Settings.model_fields[owner].annotation if owner
                      else config.Settings).model_fields  # fmt: skip
            assert field.annotation == fields[leaf].annotation, f"{section.__name__}.{name}"
            assert field.is_required(), f"{section.__name__}.{name} has a default of its own"
        view = section.from_settings(settings)
        assert all(getattr(view, k) == config._read(settings, section.source_of(k))
                   for k in section.model_fields)  # fmt: skip


def test_a_nested_section_owns_its_fields_read_under_their_old_names(monkeypatch):
    """The risk limits are one class: its fields, defaults and docs; AAITI_RISK_<NAME> and
    ``risk_<name>=`` still set them, and the gate reads the class itself."""
    from aaiti.config import RiskSettings, load_settings, settings_reference
    from aaiti.risk.gate import RiskGate

    monkeypatch.setenv("AAITI_RISK_MAX_DAILY_LOSS", "0.02")
    monkeypatch.setenv("AAITI_RISK_POSITION_LIMITS", '{"ETH/USD": 5000}')
    settings = load_settings(risk_drawdown_warn=0.05)
    assert settings.risk == RiskSettings(max_daily_loss=0.02, drawdown_warn=0.05,
                                         position_limits={"ETH/USD": 5000.0})  # fmt: skip
    assert (
        settings.trading.risk == settings.risk and RiskGate(settings.risk).limits is settings.risk
    )
    reference = settings_reference()
    assert all(f"`AAITI_RISK_{name.upper()}`" in reference for name in RiskSettings.model_fields)
    monkeypatch.setenv("AAITI_RISK_MAX_ORDER_NOTIONAL", "-5")
    with pytest.raises(ValueError, match="accepted: a positive amount"):
        load_settings()


def test_the_bundled_sample_is_found_from_any_data_folder(tmp_path, monkeypatch):
    """A data folder elsewhere still replays the repository's bundled candles, unless
    AAITI_SAMPLE_DIR names others."""
    from pathlib import Path

    from aaiti.config import load_settings

    monkeypatch.delenv("AAITI_SAMPLE_DIR", raising=False)
    repo_sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    settings = load_settings(data_dir=tmp_path / "elsewhere")
    assert settings.sample_dir == repo_sample and any(repo_sample.glob("*/*/4h.parquet"))
    monkeypatch.setenv("AAITI_SAMPLE_DIR", str(tmp_path / "mine"))
    assert load_settings(data_dir=tmp_path).sample_dir == tmp_path / "mine"
