"""Remote names: template fields only, random ids, keyed path hashes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from picsync.config.models import check_template
from picsync.formats import Format
from picsync.naming import extension_for, new_remote_id, path_key, render_remote_base


def test_remote_ids_are_random_and_carry_no_time() -> None:
    ids = {new_remote_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 26 and i.isalnum() and i == i.lower() for i in ids)
    fixed = new_remote_id(random_bytes=lambda n: bytes(n))
    assert fixed == "a" * 26


def test_render() -> None:
    when = datetime(2026, 3, 7, 23, 59, tzinfo=UTC)
    base = render_remote_base(
        "{station}/{source}/{yyyy}/{mm}/{dd}/{id}",
        station="cam3",
        source="derm",
        remote_id="abc",
        when=when,
    )
    assert base == "cam3/derm/2026/03/07/abc"


@pytest.mark.parametrize(
    "template",
    ["{station}/{name}/{id}", "{station}/{yyyy}", "/abs/{id}", "../{id}", "{id:>10}", "a//{id}"],
)
def test_bad_templates_are_refused(template: str) -> None:
    with pytest.raises(ValueError):
        check_template(template)


def test_extension_comes_from_the_format_not_the_name() -> None:
    assert extension_for(Format.JPEG) == ".jpg"
    assert extension_for(Format.DICOM) == ".dcm"
    assert extension_for(Format.UNKNOWN) == ""


def test_path_keys_are_keyed() -> None:
    a = path_key(b"k1", "cam", "Smith_John.jpg")
    assert a == path_key(b"k1", "cam", "Smith_John.jpg")
    assert a != path_key(b"k2", "cam", "Smith_John.jpg")
    assert a != path_key(b"k1", "scanner", "Smith_John.jpg")
    assert "Smith" not in a
