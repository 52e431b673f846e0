"""Image file formats: what a local file is, from a few KB of it, against the declared ``disk_format``.

A user who declares ``disk_format="qcow2"`` and points ``source`` at a VHD would otherwise
upload every byte and learn later that the server killed the image, or get an image that never
boots. :func:`sniff` reads the file's first 4 KiB, three 5-byte ISO probes around 32 KiB and
its last 512 bytes (never the whole file) and names the format; :func:`disk_format_matches_source`
is the table's relation that refuses, at preview, a declaration the file certainly contradicts.

What a file is (first match wins; offsets in bytes):

=========  ====================================================================================
``qcow2``  ``QFI\\xfb`` at 0, version 2 or 3 (QEMU's qcow2 spec); ``qcow`` for version 1
``qed``    ``QED\\0`` at 0
``vhdx``   ``vhdxfile`` at 0 (MS-VHDX file type identifier)
``vmdk``   ``KDMV`` at 0 (hosted sparse and streamOptimized), ``COWD`` at 0 (ESX sparse), or a
           text descriptor (``# Disk DescriptorFile``, or a ``createType=`` line in a text head)
``vdi``    ``0xBEDA107F`` (little-endian) at 0x40
``zvhd2``  ``z2strm`` at 0 and ``zvhd`` ``stream`` at 0: the footer cookies that Huawei's own
           qemu-img driver probes (github.com/huaweicloud/ims-qemu-img, ``src/zvhd2.c``
           ``ZVHD2_COOKIE``, ``src/zvhd.c`` ``ZVHD_COOKIE``); IMS's documents name no magic
``vhd``    ``conectix`` at 0 (the footer copy of dynamic and differencing VHDs), or in the last
           512 bytes (every VHD's footer; the last 511 for Virtual PC before 2004, per the VHD
           specification). A VHD with the cookie only at the end is a fixed VHD: raw disk bytes
           followed by the footer.
``iso``    ``CD001`` (ISO 9660), ``BEA01``/``NSR02``/``NSR03`` (UDF) at 0x8001, 0x8801 or 0x9001
           (volume descriptors in sectors 16-18; 0x9001 also covers 4 KiB-sector UDF)
``raw``    anything else, an empty file included: raw disk bytes, or a format not listed here
=========  ====================================================================================

When a declaration is refused (the compatibility matrix). The rule: refuse only when both the
declaration and the file are certain and contradict each other; whatever cannot be told from the
bytes passes, and the server decides. Glance (33.0, ``[image_format] require_image_format_match``,
on by default) refuses such uploads itself, after every byte was sent, with a misleading HTTP 415
("The request media type application/octet-stream is not supported"). What IMS does with a
declaration its file contradicts is not documented (it may convert, kill the image, or keep a wrong
``disk_format``), so a contradiction the bytes prove is refused at preview instead of left to chance.

====================  ===================================  =======================================
declared              refused when the file is             why
====================  ===================================  =======================================
``qcow2``             anything but ``qcow2``/``qcow``      every QCOW file starts with its magic;
                                                           Glance refuses the mismatch
                                                           (``require_image_format_match``).
                                                           ``qcow`` (version 1) passes: Glance's
                                                           inspector matches it by the magic alone
``vhd``               anything but ``vhd``                 every VHD ends with its footer. A fixed
                                                           VHD passes although Glance, which looks
                                                           only at offset 0, refuses it
``vhdx``, ``vmdk``,   anything but that format             self-identifying formats (Glance only);
``vdi``                                                    Glance refuses the mismatch
``iso``               anything but ``iso``                 ISO 9660 and UDF always have volume
                                                           descriptors at 32 KiB
``raw``               ``qcow2``, ``qcow``, ``qed``,        a container declared raw: its header
                      ``vhdx``, ``vmdk``, ``vdi``,         would become the first sectors of the
                      ``zvhd``, ``zvhd2``, a dynamic or    disk, which then never boots (Glance
                      differencing ``vhd``                 lets it through with a warning)
``raw``               a fixed ``vhd``, ``iso``, ``raw``    not refused: a fixed VHD's bytes are the
                                                           raw disk plus one trailing sector, and
                                                           an ISO or a partitioned disk is raw data
``zvhd2``, ``zvhd``   never                                IMS "Uploading an Image" takes QCOW2,
                                                           VMDK, VHD, RAW, VHDX, QED, VDI, QCOW,
                                                           ZVHD2 and ZVHD files, more formats than
                                                           disk_format names, so IMS converts
                                                           (inferred), and ``zvhd2`` is its
                                                           default: no mismatch is documented
other (``ami``,       never                                not inspectable here
``aki``, ``ari``,
``ploop``, ...)
====================  ===================================  =======================================

No failure either for an unknown ``disk_format`` or ``source`` (a preview of another resource's
output), a URL source, or a file that cannot be read (the upload path reports that).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .framework import Failure, contains_unknown
from .kinds import Services
from .profiles import ServerProfile

HEAD = 4096
FOOTER = 512
ISO_PROBES = (0x8001, 0x8801, 0x9001)
ISO_MARKS = (b"CD001", b"BEA01", b"NSR02", b"NSR03")
VDI_SIGNATURE = struct.pack("<I", 0xBEDA107F)

#: Declared format -> the sniffed formats its file may be. Declarations absent here are only
#: refused by :data:`NOT_RAW` (``raw``) or never.
MUST_BE: dict[str, frozenset[str]] = {
    "qcow2": frozenset({"qcow2", "qcow"}),
    "vhd": frozenset({"vhd"}),
    "vhdx": frozenset({"vhdx"}),
    "vmdk": frozenset({"vmdk"}),
    "vdi": frozenset({"vdi"}),
    "iso": frozenset({"iso"}),
}
#: Sniffed formats a file declared ``raw`` may not be (containers whose bytes are not the disk);
#: a fixed VHD is the exception, see :class:`Sniffed`.
NOT_RAW = frozenset({"qcow2", "qcow", "qed", "vhdx", "vmdk", "vdi", "zvhd", "zvhd2", "vhd"})

#: How messages name a format, and how ``qemu-img -O`` names it.
DISPLAY = {"qcow2": "QCOW2", "qcow": "QCOW version 1", "qed": "QED", "vhdx": "VHDX", "vmdk": "VMDK",
           "vdi": "VDI", "zvhd": "ZVHD", "zvhd2": "ZVHD2", "vhd": "VHD", "iso": "ISO", "raw": "raw"}
QEMU_NAME = {"qcow2": "qcow2", "vhd": "vpc", "vhdx": "vhdx", "vmdk": "vmdk", "vdi": "vdi", "raw": "raw"}
#: What a file of the declared format would show, for the message.
EXPECTED = {
    "qcow2": 'a QCOW2 file starts with "QFI\\xfb"',
    "vhd": 'a VHD file ends with a 512-byte footer that starts with "conectix"',
    "vhdx": 'a VHDX file starts with "vhdxfile"',
    "vmdk": 'a VMDK file starts with "KDMV" or "COWD", or is a text descriptor',
    "vdi": "a VDI file has the signature 0xBEDA107F at byte 0x40",
    "iso": 'an ISO 9660 or UDF image has "CD001" (or "BEA01"/"NSR02"/"NSR03") at byte 0x8001',
}


@dataclass(frozen=True)
class Sniffed:
    """What a file is: ``format`` (a disk_format name, ``raw`` when unrecognised), the bytes
    that showed it, and whether the file's bytes from offset 0 are the disk itself (a fixed VHD:
    raw disk bytes followed by the footer)."""

    format: str
    evidence: str
    data_at_start: bool = False


def identify(path: str | os.PathLike[str]) -> Sniffed | None:
    """What the file at ``path`` is, from at most ~4.6 KB of it; ``None`` when it cannot be read."""
    try:
        with open(path, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            found = _by_head(_read(handle, 0, HEAD))
            if found is None and size >= FOOTER:
                tail = _read(handle, size - FOOTER, FOOTER)
                for skip, length in ((0, 512), (1, 511)):
                    if tail[skip:].startswith(b"conectix"):
                        return Sniffed("vhd", f'fixed: footer "conectix" in its last {length} bytes only',
                                       data_at_start=True)
            if found is None:
                for offset in ISO_PROBES:
                    if offset + 5 > size:
                        break
                    mark = _read(handle, offset, 5)
                    if mark in ISO_MARKS:
                        return Sniffed("iso", f'volume descriptor "{mark.decode()}" at byte {offset:#x}')
    except OSError:
        return None
    return found or Sniffed("raw", "empty" if size == 0 else "no known header or footer")


def sniff(path: str | os.PathLike[str]) -> str | None:
    """The format of the file at ``path`` (``qcow2``, ``qcow``, ``qed``, ``vhd``, ``vhdx``,
    ``vmdk``, ``vdi``, ``zvhd``, ``zvhd2``, ``iso``, else ``raw``); ``None`` when it cannot be read.
    Reads the first 4 KiB, 15 bytes around 32 KiB and the last 512 bytes, never the whole file."""
    found = identify(path)
    return found.format if found else None


def _read(handle: Any, offset: int, count: int) -> bytes:
    handle.seek(offset)
    data = b""
    while len(data) < count:
        chunk = handle.read(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _by_head(head: bytes) -> Sniffed | None:
    if head.startswith(b"QFI\xfb"):
        if len(head) < 8:
            return Sniffed("qcow2", 'header "QFI\\xfb" at byte 0, cut short')
        version = struct.unpack(">I", head[4:8])[0]
        if version == 1:
            return Sniffed("qcow", 'header "QFI\\xfb", version 1, at byte 0')
        return Sniffed("qcow2", f'header "QFI\\xfb", version {version}, at byte 0')
    simple = ((b"QED\x00", "qed", 'header "QED\\0"'), (b"vhdxfile", "vhdx", 'identifier "vhdxfile"'),
              (b"KDMV", "vmdk", 'sparse header "KDMV"'), (b"COWD", "vmdk", 'ESX sparse header "COWD"'),
              (b"z2strm", "zvhd2", 'cookie "z2strm"'), (b"stream", "zvhd", 'cookie "stream"'),
              (b"conectix", "vhd", 'dynamic or differencing: footer copy "conectix"'))
    for magic, name, evidence in simple:
        if head.startswith(magic):
            return Sniffed(name, f"{evidence} at byte 0")
    if head[0x40:0x44] == VDI_SIGNATURE:
        return Sniffed("vdi", "signature 0xBEDA107F at byte 0x40")
    if head.startswith(b"# Disk DescriptorFile"):
        return Sniffed("vmdk", 'text descriptor "# Disk DescriptorFile"')
    if b"\0" not in head and any(line.strip().startswith(b"createType=") for line in head.splitlines()):
        return Sniffed("vmdk", "text descriptor with a createType= line")
    return None


def problem(declared: str, found: Sniffed) -> str | None:
    """Why a file that is ``found`` cannot be an image of the ``declared`` format, or ``None``
    (see the module's table)."""
    if declared in MUST_BE:
        return None if found.format in MUST_BE[declared] else f"but {EXPECTED[declared]}"
    if declared == "raw" and found.format in NOT_RAW and not found.data_at_start:
        return ("not a raw disk: uploaded as raw, its container header would become the first sectors of the "
                "disk, which would not boot")
    return None


def _fix(declared: str, found: Sniffed, location: str, profile: ServerProfile) -> str:
    if found.evidence == "empty":
        return "point source at the image file (this one has no bytes)"
    path = Path(location)
    if found.format != "raw" and found.format in profile.disk_formats:
        declare = f'declare disk_format="{found.format}"'
    else:
        declare = ""
    target = QEMU_NAME.get(declared)
    if target:
        source_fmt = QEMU_NAME.get(found.format, found.format)
        hint = ("; zvhd/zvhd2 need Huawei's qemu-img build, github.com/huaweicloud/ims-qemu-img"
                if found.format in ("zvhd", "zvhd2") else "")
        convert = (f"convert the file (qemu-img convert -f {source_fmt} -O {target} '{path}' "
                   f"'{path.with_suffix('.' + declared)}'{hint}) and point source at the result")
    else:  # iso: nothing converts to an installer image
        convert = "point source at an ISO 9660/UDF image"
    if found.format == "raw" and "raw" in profile.disk_formats and declared != "raw":
        declare = 'declare disk_format="raw" if it is a raw disk image'
    return f"{declare}, or {convert}" if declare else convert


def disk_format_matches_source(inputs: Mapping[str, Any], profile: ServerProfile, services: Services,
                               olds: Mapping[str, Any]) -> list[Failure]:
    """The declared (or default) ``disk_format`` against what a file ``source`` is (module table).

    Only when the bytes or the format change (or on create): bytes the server already holds
    under this format were accepted, and a stack that uploaded them with an earlier release
    must keep previewing cleanly (the fix would be a replacement the user did not ask for).
    """
    source, declared = inputs.get("source"), inputs.get("disk_format")
    old_source = olds.get("source")
    if (isinstance(source, Mapping) and isinstance(old_source, Mapping) and source.get("sha256")
            and source.get("sha256") == old_source.get("sha256")
            and (declared or profile.default_disk_format) == (olds.get("disk_format") or profile.default_disk_format)):
        return []
    defaulted = declared is None
    if defaulted:
        declared = profile.default_disk_format
    if not isinstance(source, Mapping) or contains_unknown(source) or contains_unknown(declared):
        return []
    if not isinstance(declared, str) or source.get("kind") != "file" or source.get("missing"):
        return []
    location = source.get("location")
    if not isinstance(location, str):
        return []
    found = identify(location)
    if found is None:
        return []  # unreadable now: the upload path says why
    why = problem(declared, found)
    if why is None:
        return []
    named = f"disk_format {declared!r}" + (f" (the {profile.display} default)" if defaulted else "")
    fix = _fix(declared, found, location, profile)
    return [Failure("disk_format", f"{named} does not match the source file {location}: the file is {_what(found)}, "
                                   f"{why}. Fix: {fix}; nothing was uploaded")]


def _what(found: Sniffed) -> str:
    if found.format == "raw":
        return "empty" if found.evidence == "empty" else f"raw data ({found.evidence})"
    name = DISPLAY.get(found.format, found.format)
    return f"{'an' if name[0] in 'AEIOU' else 'a'} {name} image ({found.evidence})"
