"""The projects of the sharing tests, as the three-project emulator (``sharing_emu``) knows them.

IAM project ids are 32 lower-case hex characters. The owner and the member sign with
AK/SK, the third project uses a token.
"""

from __future__ import annotations

OWNER = "a1" * 16
MEMBER = "b2" * 16
THIRD = "c3" * 16
OWNER_AK, OWNER_SK = "OWNERACCESSKEY000001", "owner-secret-key"
MEMBER_AK, MEMBER_SK = "MEMBERACCESSKEY00002", "member-secret-key"
THIRD_TOKEN = "third-project-token"
#: ``python -m ims_emulator`` arguments that configure the three projects.
SHARING_ARGS = (
    *("--identity", f"{OWNER_AK}:{OWNER_SK}:{OWNER}"),
    *("--identity", f"{MEMBER_AK}:{MEMBER_SK}:{MEMBER}"),
    *("--token", f"{THIRD_TOKEN}:{THIRD}"),
)
