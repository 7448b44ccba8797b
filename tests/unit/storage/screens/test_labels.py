"""Item labels: which item keys get a GS1 Digital Link QR code, and what the code says."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from storage.screens.labels import digital_link_path, label_of, label_qr

RESOLVER = "https://resolver.plant.example/"


@pytest.mark.parametrize(
    ("key", "path"),
    [
        pytest.param("urn:epc:id:sgtin:0614141.000001.7", "/01/00614141000012/21/7", id="sgtin epc uri"),
        pytest.param("gs1:01/00614141000012/21/A%2F1", "/01/00614141000012/21/A%2F1", id="barcode key"),
        pytest.param(
            "urn:epc:id:sgtin:0614141.000001.a%2Fb", "/01/00614141000012/21/a%2Fb", id="escaped serial"
        ),
        pytest.param("gs1:01/00614141000013/21/7", None, id="wrong check digit"),
        pytest.param("gs1:01/c/21/0", None, id="no gtin"),
        pytest.param("urn:epc:id:sscc:0614141.1234567890", None, id="sscc"),
        pytest.param("urn:epc:class:lgtin:0614141.000001.L1", None, id="lot epc uri"),
        pytest.param("gs1:01/00614141000012/10/L1", None, id="lot barcode key"),
    ],
)
def test_only_an_sgtin_has_a_digital_link_path(key: str, path: str | None) -> None:
    assert digital_link_path(key) == path


def test_the_label_code_carries_the_digital_link_at_the_plants_domain() -> None:
    label = label_of("urn:epc:id:sgtin:0614141.000001.a%2Fb", RESOLVER)
    assert label.url == "https://resolver.plant.example/01/00614141000012/21/a%2Fb"
    assert label.readable == "(01) 00614141000012 (21) a/b"
    png = io.BytesIO()
    label_qr(label.url).save(png, kind="png", scale=4, border=4)
    png.seek(0)
    decoded = zxingcpp.read_barcodes(Image.open(png))
    assert [d.text for d in decoded] == [label.url]


def test_a_key_with_no_gtin_and_serial_is_text_only() -> None:
    label = label_of("urn:epc:id:sscc:0614141.1234567890", RESOLVER)
    assert (label.item, label.url, label.qr) == ("urn:epc:id:sscc:0614141.1234567890", "", "")
