"""The other side of wire/tests/sm2_gmssl.rs: SM2 with SM3 as the pure-Python `gmssl` package
does it (its own curve arithmetic, its own Z under the default user ID 1234567812345678).

    python3 sm2_gmssl.py verify PUBLIC MESSAGE SIGNATURE   # prints `valid` or `invalid`
    python3 sm2_gmssl.py sign MESSAGE                      # prints `PUBLIC SIGNATURE`

PUBLIC is x || y, MESSAGE and SIGNATURE (r || s) are hex. `sign` makes a fresh key pair.
Exits 3 when gmssl is not importable: CI installs it (`pip install gmssl`).
"""

import secrets
import sys

try:
    from gmssl import sm2
except ImportError as error:
    sys.stderr.write(f"gmssl is not importable ({error}): run `pip install gmssl`\n")
    sys.exit(3)

ORDER = int(sm2.default_ecc_table["n"], 16)


def verify(public, message, signature):
    crypt = sm2.CryptSM2(private_key=None, public_key=public)
    ok = crypt.verify_with_sm3(signature, bytes.fromhex(message))
    print("valid" if ok else "invalid")


def sign(message):
    private = secrets.randbelow(ORDER - 2) + 1
    private_hex = "%064x" % private
    crypt = sm2.CryptSM2(private_key=private_hex, public_key="")
    public = crypt._kg(private, sm2.default_ecc_table["g"])
    crypt = sm2.CryptSM2(private_key=private_hex, public_key=public)
    signature = None
    while signature is None:
        signature = crypt.sign_with_sm3(bytes.fromhex(message))
    print(public, signature)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"verify": verify, "sign": sign}[command](*args)
