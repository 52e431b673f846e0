"""Image file formats offline: what a file is from a few KB of it, and the disk_format a file
contradicts refused at preview (issue 14, "Formats ... checked at preview where the file is readable").

Every sample is a tiny synthetic file with just the bytes that identify its format."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi.output import Unknown

from ims_pulumi.core import content, formats
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.profiles import GLANCE, IMS, ServerProfile

pytestmark = pytest.mark.unit

DISK = b"disk data ".ljust(512, b"\0") * 8  # 4 KiB of guest sectors that match no format
VHD_FOOTER = b"conectix" + bytes(504)
MBR = bytes(446) + bytes.fromhex("80 00 01 00 83 fe ff ff 00 08 00 00 00 f8 ff 00") + bytes(48) + b"\x55\xaa"


def _at(size: int, *marks: tuple[int, bytes]) -> bytes:
    data = bytearray(size)
    for offset, mark in marks:
        data[offset:offset + len(mark)] = mark
    return bytes(data)


#: name -> the file's bytes.
SAMPLES: dict[str, bytes] = {
    "qcow2 v3": b"QFI\xfb" + struct.pack(">I", 3) + bytes(1016),
    "qcow2 v2": b"QFI\xfb" + struct.pack(">I", 2) + bytes(1016),
    "qcow v1": b"QFI\xfb" + struct.pack(">I", 1) + bytes(1016),
    "qcow2 magic only (4 bytes)": b"QFI\xfb",
    "vhd dynamic": VHD_FOOTER + bytes(1024) + DISK + VHD_FOOTER,
    "vhd fixed": DISK + VHD_FOOTER,
    "vhd fixed, 511-byte footer": DISK + VHD_FOOTER[:511],
    "vhdx": b"vhdxfile" + bytes(4088),
    "vmdk sparse": b"KDMV" + struct.pack("<I", 1) + bytes(1016),
    "vmdk esx sparse": b"COWD" + struct.pack("<I", 1) + bytes(1016),
    "vmdk descriptor": (b'# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                        b'createType="monolithicFlat"\n\n# Extent description\nRW 2048 FLAT "web-flat.vmdk" 0\n'),
    "vmdk descriptor without the comment": b'version=1\nCID=fffffffe\ncreateType="vmfs"\nRW 2048 VMFS "web.vmdk"\n',
    "vdi": b"<<< Oracle VM VirtualBox Disk Image >>>\n".ljust(0x40, b"\0") + struct.pack("<I", 0xBEDA107F) + bytes(444),
    "qed": b"QED\x00" + bytes(1020),
    "zvhd": b"stream\x00\x00" + bytes(4088),
    "zvhd2": b"z2strm\x00\x00" + bytes(4088),
    "iso 9660": _at(0x9800, (0x8000, b"\x01CD001\x01"), (0x8800, b"\xffCD001\x01")),
    "iso 9660 hybrid (MBR in front)": MBR + _at(0x9800 - 512, (0x8000 - 512, b"\x01CD001\x01")),
    "iso, descriptor in sector 17 only": _at(0x9800, (0x8800, b"\x01CD001\x01")),
    "udf": _at(0x9800, (0x8000, b"\x00BEA01\x01"), (0x8800, b"\x00NSR02\x01"), (0x9000, b"\x00TEA01\x01")),
    "udf, NSR03 in sector 18 only": _at(0x9800, (0x9000, b"\x00NSR03\x01")),
    "iso cut before its descriptor ends": _at(0x8004, (0x8000, b"\x01CD0")),
    "raw with an MBR": MBR + DISK,
    "random bytes": random.Random(14).randbytes(256 * 1024),
    "the example stack's tiny disk": b"ims-pulumi example disk\n".ljust(512, b"\0") * 2048,  # __main__.py tiny_disk
    "the sharing example's golden disk": b"golden image\n".ljust(512, b"\0") * 1024,  # examples/sharing
    "the upload tests' small files": b"x" * 1000,
    "empty file": b"",
    "shorter than 512 bytes": b"hello, not an image\n",
    "shorter than 512 bytes, VHD cookie at its end": b"data" * 20 + b"conectix",
    "shorter than 512 bytes, VHD header copy": VHD_FOOTER[:300],
}

# (reason, sample, what sniff says)
SNIFFED = [
    ("qcow2 magic, version 3", "qcow2 v3", "qcow2"),
    ("qcow2 magic, version 2", "qcow2 v2", "qcow2"),
    ("QCOW version 1 has the same magic but is another format", "qcow v1", "qcow"),
    ("the magic alone, even cut short, is a QCOW2 header", "qcow2 magic only (4 bytes)", "qcow2"),
    ("dynamic VHD: footer copy at offset 0", "vhd dynamic", "vhd"),
    ("fixed VHD: the footer is only in the last 512 bytes", "vhd fixed", "vhd"),
    ("Virtual PC before 2004 wrote a 511-byte footer (VHD specification)", "vhd fixed, 511-byte footer", "vhd"),
    ("VHDX file type identifier", "vhdx", "vhdx"),
    ("VMDK hosted sparse extent", "vmdk sparse", "vmdk"),
    ("VMDK ESX sparse extent (qemu's VMDK3 magic)", "vmdk esx sparse", "vmdk"),
    ("VMDK text descriptor", "vmdk descriptor", "vmdk"),
    ("a descriptor is recognised by its createType line too", "vmdk descriptor without the comment", "vmdk"),
    ("VDI signature at 0x40", "vdi", "vdi"),
    ("QED magic", "qed", "qed"),
    ("zvhd: Huawei's qemu-img driver probes the cookie 'stream'", "zvhd", "zvhd"),
    ("zvhd2: Huawei's qemu-img driver probes the cookie 'z2strm'", "zvhd2", "zvhd2"),
    ("ISO 9660: CD001 at 0x8001", "iso 9660", "iso"),
    ("a hybrid ISO has an MBR in front and is still an ISO", "iso 9660 hybrid (MBR in front)", "iso"),
    ("CD001 at 0x8801", "iso, descriptor in sector 17 only", "iso"),
    ("UDF: BEA01 at 0x8001", "udf", "iso"),
    ("UDF on 4 KiB sectors: NSR03 at 0x9001", "udf, NSR03 in sector 18 only", "iso"),
    ("a descriptor cut short is not one", "iso cut before its descriptor ends", "raw"),
    ("a partitioned raw disk is raw", "raw with an MBR", "raw"),
    ("random bytes match nothing", "random bytes", "raw"),
    ("the example stack's raw image stays raw", "the example stack's tiny disk", "raw"),
    ("the sharing example's raw image stays raw", "the sharing example's golden disk", "raw"),
    ("the upload tests' files stay raw", "the upload tests' small files", "raw"),
    ("an empty file is raw (nothing to recognise)", "empty file", "raw"),
    ("a short file with no magic is raw", "shorter than 512 bytes", "raw"),
    ("a file shorter than 512 bytes holds no footer", "shorter than 512 bytes, VHD cookie at its end", "raw"),
    ("a short file still has its header looked at", "shorter than 512 bytes, VHD header copy", "vhd"),
]


@pytest.fixture(autouse=True)
def digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMS_PULUMI_DIGEST_CACHE", str(tmp_path / "digests"))


def write(tmp_path: Path, sample: str) -> Path:
    path = tmp_path / (sample.replace(" ", "_").replace("/", "_").replace("'", "") + ".img")
    path.write_bytes(SAMPLES[sample])
    return path


def test_every_sample_is_in_the_case_table() -> None:
    assert {case[1] for case in SNIFFED} == set(SAMPLES)


@pytest.mark.parametrize("reason,sample,expected", SNIFFED, ids=[c[0] for c in SNIFFED])
def test_sniff(tmp_path: Path, reason: str, sample: str, expected: str) -> None:
    assert formats.sniff(write(tmp_path, sample)) == expected, reason


@pytest.mark.parametrize("reason,make", [
    ("a path that does not exist", lambda p: p / "missing.img"),
    ("a directory", lambda p: p),
    ("a dangling symlink", lambda p: (p / "link.img").symlink_to(p / "nowhere") or p / "link.img"),
], ids=["missing", "directory", "dangling symlink"])
def test_unreadable_paths_are_none(tmp_path: Path, reason: str, make: Callable[[Path], Path]) -> None:
    assert formats.sniff(make(tmp_path)) is None, reason


def test_only_a_few_kb_are_read_whatever_the_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.raw"
    with big.open("wb") as handle:
        handle.truncate(8 * 1024**3)  # sparse: 8 GiB of zeros, every probe runs and finds nothing
    read: list[int] = []
    real_open = open

    class Counting:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.handle, name)

        def read(self, count: int = -1) -> bytes:
            data: bytes = self.handle.read(count)
            read.append(len(data))
            return data

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> Counting:
        return Counting(real_open(path, *args, **kwargs))

    monkeypatch.setattr(formats, "open", counting_open, raising=False)
    assert formats.sniff(big) == "raw"
    assert 0 < sum(read) <= formats.HEAD + formats.FOOTER + 3 * 5, read


# --- the compatibility matrix ------------------------------------------------------------------

# (reason, declared disk_format, sample, refused?)
MATRIX = [
    ("a qcow2 file as qcow2", "qcow2", "qcow2 v3", False),
    ("QCOW version 1 as qcow2: Glance's inspector matches the magic alone", "qcow2", "qcow v1", False),
    ("a VHD as qcow2: the issue's example", "qcow2", "vhd fixed", True),
    ("raw bytes as qcow2: a QCOW2 file always starts with its magic", "qcow2", "random bytes", True),
    ("an ISO as qcow2", "qcow2", "iso 9660", True),
    ("a zvhd2 file as qcow2", "qcow2", "zvhd2", True),
    ("an empty file as qcow2", "qcow2", "empty file", True),
    ("a dynamic VHD as vhd", "vhd", "vhd dynamic", False),
    ("a fixed VHD as vhd (Glance, which reads offset 0 only, would refuse it; IMS may not)", "vhd", "vhd fixed", False),
    ("a 511-byte footer as vhd", "vhd", "vhd fixed, 511-byte footer", False),
    ("raw bytes as vhd: no footer", "vhd", "the example stack's tiny disk", True),
    ("a VHDX as vhd", "vhd", "vhdx", True),
    ("a qcow2 as vhd", "vhd", "qcow2 v3", True),
    ("an ISO as iso", "iso", "iso 9660", False),
    ("a hybrid ISO as iso", "iso", "iso 9660 hybrid (MBR in front)", False),
    ("a UDF image as iso", "iso", "udf", False),
    ("raw bytes as iso: no volume descriptor", "iso", "raw with an MBR", True),
    ("raw bytes as raw", "raw", "random bytes", False),
    ("the example stack's tiny disk as raw", "raw", "the example stack's tiny disk", False),
    ("a partitioned disk as raw", "raw", "raw with an MBR", False),
    ("an empty file as raw: left to the server", "raw", "empty file", False),
    ("an ISO as raw: an ISO 9660 filesystem is raw data", "raw", "iso 9660", False),
    ("a fixed VHD as raw: its bytes are the disk plus one trailing sector", "raw", "vhd fixed", False),
    ("a qcow2 as raw: its header would become the disk", "raw", "qcow2 v3", True),
    ("a QCOW v1 as raw", "raw", "qcow v1", True),
    ("a dynamic VHD as raw: the footer copy would become sector 0", "raw", "vhd dynamic", True),
    ("a VHDX as raw", "raw", "vhdx", True),
    ("a sparse VMDK as raw", "raw", "vmdk sparse", True),
    ("a VMDK descriptor as raw", "raw", "vmdk descriptor", True),
    ("a VDI as raw", "raw", "vdi", True),
    ("a QED as raw", "raw", "qed", True),
    ("a zvhd as raw", "raw", "zvhd", True),
    ("a zvhd2 as raw", "raw", "zvhd2", True),
    ("unrecognised bytes as zvhd2: IMS converts uploads, never refused", "zvhd2", "random bytes", False),
    ("a qcow2 as zvhd2 (IMS's default): IMS converts uploads", "zvhd2", "qcow2 v3", False),
    ("a VMDK as zvhd2: §2.7 accepts VMDK files, which no disk_format names", "zvhd2", "vmdk sparse", False),
    ("a zvhd2 file as zvhd2", "zvhd2", "zvhd2", False),
    ("unrecognised bytes as zvhd", "zvhd", "random bytes", False),
    ("a zvhd2 file as zvhd: no mismatch is documented", "zvhd", "zvhd2", False),
    ("Glance vmdk, a sparse VMDK", "vmdk", "vmdk sparse", False),
    ("Glance vmdk, a descriptor", "vmdk", "vmdk descriptor", False),
    ("Glance vmdk, raw bytes (a flat extent alone is not a VMDK image)", "vmdk", "random bytes", True),
    ("Glance vhdx, a VHDX", "vhdx", "vhdx", False),
    ("Glance vhdx, a VHD", "vhdx", "vhd dynamic", True),
    ("Glance vdi, a VDI", "vdi", "vdi", False),
    ("Glance vdi, a qcow2", "vdi", "qcow2 v3", True),
    ("Glance ami: not inspectable here, never refused", "ami", "qcow2 v3", False),
    ("Glance ploop: not inspectable here", "ploop", "random bytes", False),
]


@pytest.mark.parametrize("reason,declared,sample,refused", MATRIX, ids=[c[0] for c in MATRIX])
def test_compatibility_matrix(tmp_path: Path, reason: str, declared: str, sample: str, refused: bool) -> None:
    found = formats.identify(write(tmp_path, sample))
    assert found is not None
    assert (formats.problem(declared, found) is not None) == refused, reason


@pytest.mark.parametrize("declared", ["zvhd2", "zvhd", "ami", "aki", "ari", "ploop"])
def test_declarations_that_are_never_refused(tmp_path: Path, declared: str) -> None:
    for sample in SAMPLES:
        found = formats.identify(write(tmp_path, sample))
        assert found is not None and formats.problem(declared, found) is None, (declared, sample)


def test_every_recognised_file_passes_as_its_own_format(tmp_path: Path) -> None:
    for sample in SAMPLES:
        found = formats.identify(write(tmp_path, sample))
        assert found is not None
        own = "qcow2" if found.format == "qcow" else found.format
        assert formats.problem(own, found) is None, sample


# --- at preview: IMAGE_METADATA.check ------------------------------------------------------------

def check(profile: ServerProfile, **inputs: Any) -> list[Any]:
    return IMAGE_METADATA.check({}, {"name": "web", **inputs}, profile)[1]


# (reason, profile, declared, sample, texts the message must contain)
REFUSED = [
    ("the issue's example: qcow2 declared, the file is a VHD", IMS, "qcow2", "vhd fixed",
     ["disk_format 'qcow2'", "a VHD image", '"QFI\\xfb"',
      'declare disk_format="vhd"', "qemu-img convert -f vpc -O qcow2"]),
    ("raw declared, the file is a qcow2", IMS, "raw", "qcow2 v3",
     ["disk_format 'raw'", "a QCOW2 image", "not a raw disk", 'declare disk_format="qcow2"',
      "qemu-img convert -f qcow2 -O raw"]),
    ("vhd declared, no footer", IMS, "vhd", "the example stack's tiny disk",
     ["disk_format 'vhd'", "raw data", '"conectix"', 'declare disk_format="raw" if it is a raw disk image',
      "-O vpc"]),
    ("iso declared, no volume descriptor", IMS, "iso", "random bytes",
     ["disk_format 'iso'", "raw data", "CD001", "ISO 9660/UDF image"]),
    ("qcow2 declared, the file is empty", IMS, "qcow2", "empty file",
     ["disk_format 'qcow2'", "the file is empty", "has no bytes"]),
    ("raw declared, a zvhd2 file: the fix names Huawei's converter", IMS, "raw", "zvhd2",
     ["a ZVHD2 image", 'declare disk_format="zvhd2"', "huaweicloud/ims-qemu-img"]),
    ("qcow2 on IMS, a VMDK: vmdk is no IMS disk_format, so only conversion is offered", IMS, "qcow2", "vmdk sparse",
     ["a VMDK image", "qemu-img convert -f vmdk -O qcow2"]),
    ("Glance vmdk declared, raw bytes", GLANCE, "vmdk", "random bytes",
     ["disk_format 'vmdk'", '"KDMV"', 'declare disk_format="raw"']),
]


@pytest.mark.parametrize("reason,profile,declared,sample,texts", REFUSED, ids=[c[0] for c in REFUSED])
def test_a_contradicting_disk_format_fails_at_preview(tmp_path: Path, reason: str, profile: ServerProfile,
                                                      declared: str, sample: str, texts: list[str]) -> None:
    path = write(tmp_path, sample)
    failures = check(profile, disk_format=declared, source=str(path))
    assert [f.property for f in failures] == ["disk_format"], (reason, failures)
    message = failures[0].reason
    for text in [*texts, str(path), "Fix:", "nothing was uploaded"]:
        assert text in message, f"{reason}: {text!r} not in {message}"


# (reason, profile, inputs besides source (None: not declared), sample)
ACCEPTED = [
    ("a qcow2 file as qcow2", IMS, {"disk_format": "qcow2"}, "qcow2 v3"),
    ("a VHD as vhd", IMS, {"disk_format": "vhd"}, "vhd dynamic"),
    ("an ISO as iso", IMS, {"disk_format": "iso"}, "iso 9660"),
    ("the example stack's tiny raw image (__main__.py)", IMS, {"disk_format": "raw"}, "the example stack's tiny disk"),
    ("the sharing example's raw image", IMS, {"disk_format": "raw"}, "the sharing example's golden disk"),
    ("the upload tests' raw files", IMS, {"disk_format": "raw"}, "the upload tests' small files"),
    ("random bytes as raw (tests/contract/test_upload.py, tests/e2e/test_content_cli.py)", IMS,
     {"disk_format": "raw"}, "random bytes"),
    ("raw bytes on Glance", GLANCE, {"disk_format": "raw", "container_format": "bare"}, "random bytes"),
    ("IMS's default zvhd2 with a qcow2 file (tests/unit/test_content.py declares no format)", IMS, {}, "qcow2 v3"),
    ("IMS's default zvhd2 with unrecognised bytes", IMS, {}, "random bytes"),
    ("zvhd declared, unrecognised bytes", IMS, {"disk_format": "zvhd"}, "random bytes"),
    ("Glance's default: no disk_format, nothing to compare", GLANCE, {}, "qcow2 v3"),
    ("disk_format not known yet (another resource's output)", IMS, {"disk_format": Unknown()}, "vhd fixed"),
]


@pytest.mark.parametrize("reason,profile,inputs,sample", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_compatible_pairs_pass_at_preview(tmp_path: Path, reason: str, profile: ServerProfile,
                                          inputs: dict[str, Any], sample: str) -> None:
    assert not check(profile, **inputs, source=str(write(tmp_path, sample))), reason


def test_a_source_not_known_yet_passes(tmp_path: Path) -> None:
    assert not check(IMS, disk_format="qcow2", source=Unknown())


def test_a_url_source_is_not_read(tmp_path: Path) -> None:
    assert not check(IMS, disk_format="qcow2", source={"kind": "url", "location": "https://example.com/web.vhd"})


@pytest.mark.parametrize("reason,spoil", [
    ("deleted after the resource described it", lambda p: p.unlink()),
    ("replaced by a directory", lambda p: (p.unlink(), p.mkdir())),
], ids=["deleted", "directory"])
def test_an_unreadable_file_is_left_to_the_upload(tmp_path: Path, reason: str, spoil: Callable[[Path], Any]) -> None:
    path = write(tmp_path, "vhd fixed")
    source = content.describe(str(path))  # what the resource class registered
    spoil(path)
    assert not check(IMS, disk_format="qcow2", source=source), reason


def test_other_failures_come_first(tmp_path: Path) -> None:
    # relations run only when every field is valid: one message per problem, the field's own first
    failures = check(IMS, disk_format="vmdk", source=str(write(tmp_path, "random bytes")))
    assert [f.property for f in failures] == ["disk_format"] and "one of" in failures[0].reason


def test_bytes_the_server_already_holds_are_not_refused_again(tmp_path: Path) -> None:
    # A stack that uploaded a VHD as qcow2 with release 0.2 (no format check then): previewing it
    # again must not fail, since the fix (another disk_format) would replace the image unasked.
    path = write(tmp_path, "vhd fixed")
    olds, _ = IMAGE_METADATA.check({}, {"name": "web", "disk_format": "qcow2"}, IMS)
    olds = {**olds, "source": content.describe(str(path))}
    news = {"name": "web", "disk_format": "qcow2", "source": str(path)}
    assert not IMAGE_METADATA.check(olds, news, IMS)[1], "same bytes, same format: already accepted"
    assert IMAGE_METADATA.check({}, news, IMS)[1], "on create the same pair is refused"
    (tmp_path / "other").mkdir()
    changed = write(tmp_path / "other", "vhd dynamic")
    refused = IMAGE_METADATA.check(olds, {**news, "source": str(changed)}, IMS)[1]
    assert [f.property for f in refused] == ["disk_format"], "new bytes are checked"
