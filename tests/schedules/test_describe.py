"""A schedule in English and Spanish words, for the console and ``job show``."""

from __future__ import annotations

import pytest

from resguardo.schedules import InvalidSchedule, describe_schedule, parse_schedule_argument


@pytest.mark.parametrize(
    ("text", "english", "spanish"),
    [
        ("every 60 days at 02:00", "every 60 days at 02:00", "cada 60 días a las 02:00"),
        (
            "every 2 weeks at 22:00 starting 2025-01-06",
            "every 2 weeks at 22:00, starting 2025-01-06",
            "cada 2 semanas a las 22:00, desde el 2025-01-06",
        ),
        ("every 6 hours", "every 6 hours", "cada 6 horas"),
        ("every hour at 00:30", "every hour from 00:30", "cada hora desde las 00:30"),
        ("every 30 minutes", "every 30 minutes", "cada 30 minutos"),
        ("daily at 01:00", "daily at 01:00", "diario a la 01:00"),
        ("weekly on sunday at 03:00", "weekly on Sunday at 03:00", "semanal, los domingos a las 03:00"),
        (
            "weekly on mon, wed, fri at 21:00",
            "weekly on Monday, Wednesday and Friday at 21:00",
            "semanal, los lunes, miércoles y viernes a las 21:00",
        ),
        ("monthly on day 15 at 02:00", "monthly on day 15 at 02:00", "mensual, el día 15 a las 02:00"),
        (
            "monthly on the last day at 23:30",
            "monthly on the last day at 23:30",
            "mensual, el último día a las 23:30",
        ),
        (
            "monthly on days 1, 15 and the last day at 01:00",
            "monthly on days 1, 15 and the last day at 01:00",
            "mensual, los días 1, 15 y el último día a la 01:00",
        ),
        (
            "daily at 01:00 in America/Guayaquil window 22:00-06:00",
            "daily at 01:00, window 22:00-06:00 (America/Guayaquil)",
            "diario a la 01:00, ventana 22:00-06:00 (America/Guayaquil)",
        ),
    ],
)
def test_schedule_is_described_in_english_and_spanish(text: str, english: str, spanish: str) -> None:
    document = parse_schedule_argument(text)
    assert describe_schedule(document, "en") == english
    assert describe_schedule(document, "es") == spanish


def test_locale_names_count_as_their_language_and_others_get_english() -> None:
    document = parse_schedule_argument("daily at 02:00")
    assert describe_schedule(document, "es_EC") == "diario a las 02:00"
    assert describe_schedule(document, "en-US") == "daily at 02:00"
    assert describe_schedule(document, "fr") == "daily at 02:00"


def test_the_readers_zone_is_left_out_and_another_named() -> None:
    document = parse_schedule_argument("daily at 02:00 in America/Guayaquil")
    assert describe_schedule(document, "es", default_timezone="America/Guayaquil") == "diario a las 02:00"
    assert describe_schedule(document, "es") == "diario a las 02:00 (America/Guayaquil)"


def test_an_invalid_document_is_not_described() -> None:
    with pytest.raises(InvalidSchedule) as caught:
        describe_schedule({"kind": "interval", "every_days": 60}, "en")
    assert caught.value.field == "every_days"
