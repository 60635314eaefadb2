"""Run verification reasons in the page's language: worded again from their code and figures (the
stored English message stays for the API, the command line and the log)."""

from __future__ import annotations

from typing import Any

import pytest

from resguardo.engine.checker import CheckProblem
from resguardo.services.verification.compare import compare
from resguardo.services.verification.thresholds import Thresholds
from resguardo.services.verification.verdict import integrity_reasons
from resguardo.web.i18n import using_language
from resguardo.web.reasons import reason_text

THRESHOLDS = Thresholds(size_change_percent=20, file_count_change_percent=20, unchanged_dump_days=7)


def _dumps(orders_rows: int, size: int, *, with_notes: bool = True) -> dict[str, Any]:
    tables = {"public.orders": {"rows": orders_rows, "bytes": 4_000_000}}
    if with_notes:
        tables["public.notes"] = {"rows": 500, "bytes": 2_000_000}
    return {
        "streams": {
            "db/sales": {"kind": "postgresql.database", "database": "sales", "size": size, "tables": tables}
        }
    }


def _reasons() -> dict[str, dict[str, Any]]:
    """Return one stored reason of each code, as :func:`compare` and the read-back make them."""
    found = [
        *compare({"bytes": 10_000_000, "files": 1000}, {"bytes": 5_000_000, "files": 500}, THRESHOLDS),
        *compare(_dumps(10_000, 9_000_000), _dumps(2_000, 4_000_000, with_notes=False), THRESHOLDS),
        *compare(
            _dumps(10_000, 9_000_000), {"streams": {"db/hr": {"database": "hr", "size": 5}}}, THRESHOLDS
        ),
        *compare(
            None,
            {
                "finished_at": "2026-03-20T10:00:00+00:00",
                "streams": {
                    "db/hr": {
                        "kind": "postgresql.database",
                        "database": "hr",
                        "content_id": "ab" * 16,
                        "unchanged_since": "2026-03-01T10:00:00+00:00",
                    }
                },
            },
            THRESHOLDS,
        ),
        *integrity_reasons([CheckProblem("pack", "ab12", "its hash does not match")]),
    ]
    return {reason.code: reason.document() for reason in found}


def test_every_reason_code_is_worded_in_spanish_from_its_figures() -> None:
    reasons = _reasons()
    assert set(reasons) >= {
        "size_changed",
        "files_changed",
        "dump_size_changed",
        "tables_missing",
        "table_rows_changed",
        "dump_missing",
        "dump_unchanged",
        "integrity_failed",
    }
    with using_language("es"):
        spanish = {code: reason_text(reason).replace("\xa0", " ") for code, reason in reasons.items()}
    assert spanish["size_changed"] == "la copia es un 50 % más pequeña que la anterior (10 MB → 5 MB)"
    assert (
        spanish["files_changed"] == "la copia tiene un 50 % menos de archivos que la anterior (1.000 → 500)"
    )
    assert spanish["table_rows_changed"] == (
        "1 tabla de sales perdió un 20 % o más de sus filas (public.orders 10.000 → 2.000)"
    )
    assert spanish["tables_missing"] == "1 tabla de sales ya no está en su volcado (public.notes)"
    assert "el volcado de sales es un 56 % más pequeño" in spanish["dump_size_changed"]
    assert spanish["dump_missing"] == "esta vez no hay volcado de sales (el anterior ocupaba 9 MB)"
    assert "su volcado no ha cambiado desde 2026-03-01" in spanish["dump_unchanged"]
    assert spanish["integrity_failed"].endswith("no se lee intacto: its hash does not match")


def test_reasons_in_english_use_the_pages_units_and_unknown_codes_keep_the_stored_message() -> None:
    reasons = _reasons()
    with using_language("en"):
        assert reason_text(reasons["table_rows_changed"]) == (
            "1 table of sales lost 20% or more of its rows (public.orders 10,000 → 2,000)"
        )
        assert (
            reason_text(reasons["size_changed"])
            == "the backup is 50% smaller than the last one (10 MB → 5 MB)"
        )
        unknown = {"code": "made_up", "message": "something new", "figures": {}}
        broken = {"code": "size_changed", "message": "stored words", "figures": {"before": "x"}}
        assert reason_text(unknown) == "something new" and reason_text(broken) == "stored words"


@pytest.mark.parametrize("language", ["es", "en"])
def test_many_tables_are_named_up_to_five_then_counted(language: str) -> None:
    earlier = {f"t{index}": {"rows": 1000} for index in range(8)}
    now = {f"t{index}": {"rows": 10} for index in range(8)}
    previous = {"streams": {"s": {"database": "big", "size": 1, "tables": earlier}}}
    current = {"streams": {"s": {"database": "big", "size": 1, "tables": now}}}
    (reason,) = compare(previous, current, THRESHOLDS)
    with using_language(language):
        text = reason_text(reason.document()).replace("\xa0", " ")
    assert text.count("→") == 5 and ("y 3 más" if language == "es" else "and 3 more") in text
