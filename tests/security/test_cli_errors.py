"""Issue #14, finding 13: the command line answered bad paths and numbers with tracebacks, or hung.

A traceback shows the installation's paths and code to whoever reads the terminal or the
cron mail, and says nothing a user can act on; ``import customers /dev/zero`` never came
back (it counted lines in an endless file). Each of these is now one line on stderr,
``error: …``, and exit code 1 — and no command reads without end.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import dealercrm
from dealercrm.cli import common, main
from dealercrm.settings import Settings

ENV_KEYS = ("DEALERCRM_DATABASE_URL", "DEALERCRM_SETTINGS", "DEALERCRM_BLOCK_PLUGINS", "DEALERCRM_DEFAULT_REGION")


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """``cli(*args)`` runs ``dealercrm --db <a database with customer 1> ARGS`` in this process:
    (exit code, stdout, stderr). An exception escaping ``main`` — a traceback — fails the test."""
    monkeypatch.chdir(tmp_path)
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(common.err, "_width", 300)
    url = f"sqlite:///{tmp_path}/cli.db"
    crm = dealercrm.connect(url, settings=Settings())
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    crm.customers.add("Max Mustermann", by=crm.system)
    crm.close()

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(["--db", url, *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    run.url = url
    return run


def one_line_error(code: int, err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0]


BAD = [
    (("customers", "import", "/etc"), ("/etc", "not a regular file")),
    (("customers", "import", "/nonexistent/list.csv"), ("/nonexistent/list.csv",)),
    (("customers", "export", "1", "-o", "/nonexistent/x"), ("--output", "/nonexistent/x", "cannot be written")),
    (("inbound", "receive", "email", "/nonexistent"), ("/nonexistent", "does not exist")),
    (("inbound", "receive", "email", "/etc"), ("/etc", "not a regular file")),
    (("report", "--chart", "A_FILE"), ("--chart", "is a file")),  # the issue's /etc/hostname
    (("openapi", "--output", "/nonexistent/x"), ("--output", "/nonexistent/x")),
    (("keys", "revoke", "²"), ("api key '²' not found",)),
    (("keys", "create", "--party", "²", "--role", "service"), ("party '²' not found",)),
    (("--as", "²", "customers", "list"), ("actor '²' not found",)),
    (("cases", "show", "99999999999999999999"), ("case 99999999999999999999 not found",)),
    (("customers", "show", "99999999999999999999"), ("customer 99999999999999999999 not found",)),
    (("customers", "export", "0"), ("customer 0 not found",)),
    (("cases", "list", "--party", "99999999999999999999"), ("party 99999999999999999999 not found",)),
]


@pytest.mark.parametrize("args,words", BAD, ids=[" ".join(args) for args, _ in BAD])
def test_a_bad_path_or_number_is_one_line_and_exit_code_1(cli, tmp_path, args, words):
    a_file = tmp_path / "hostname"
    a_file.write_text("crm-host\n", encoding="utf-8")
    code, _, err = cli(*(str(a_file) if arg == "A_FILE" else arg for arg in args))
    one_line_error(code, err, *words)
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [("customers", "import", "/dev/zero"), ("inbound", "receive", "email", "/dev/zero")])
def test_an_endless_file_is_refused_at_once(cli, tmp_path, args):
    """As a user runs it, in its own process: a hang fails here after 60 s instead of hanging the suite."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    done = subprocess.run([sys.executable, "-c", "from dealercrm.cli import main; main()", "--db", cli.url, *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    one_line_error(done.returncode, done.stderr, "/dev/zero", "not a regular file")


def test_an_inbound_message_over_the_http_limit_is_refused_from_a_file_too(cli, tmp_path):
    big = tmp_path / "big.eml"
    big.write_bytes(b"From: erika@example.org\r\n\r\n" + b"x" * (1 << 20))
    code, _, err = cli("inbound", "receive", "email", str(big))
    one_line_error(code, err, "larger than 1048576 bytes")
