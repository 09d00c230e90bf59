"""A storage URL's password: masked wherever it is shown or stored, compared without, supplied
by the URL or $OHGW_OPTUNA_STORAGE_PASSWORD at run time (issue 28)."""

from __future__ import annotations

import pytest

from ohgw.storage_url import MASK
from ohgw.storage_url import PASSWORD_ENV
from ohgw.storage_url import check_url
from ohgw.storage_url import connect_url
from ohgw.storage_url import hide
from ohgw.storage_url import holds_password
from ohgw.storage_url import password
from ohgw.storage_url import redact
from ohgw.storage_url import without_password
from ohgw.store.study_dir import identity_differences
from ohgw.store.study_dir import upgrade_settings
from ohgw.study.config import StudyConfig
from ohgw.study.config import child_env
from ohgw.study.config import config_from_env


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ohgw:s3cret@db/ohgw", "postgresql://ohgw:***@db/ohgw"),
        ("postgresql+psycopg2://u:p%40ss@h:5432/d", "postgresql+psycopg2://u:***@h:5432/d"),
        ("postgresql://u:p@ss/w@h:1/d", "postgresql://u:***@h:1/d"),  # an unescaped @ and /
        ("postgresql://ohgw@db/ohgw", "postgresql://ohgw@db/ohgw"),
        ("postgresql://db:5432/ohgw?password=s3cret", "postgresql://db:5432/ohgw?password=***"),
        ("sqlite:///runs/x.db", "sqlite:///runs/x.db"),
        ("ray://head:10001", "ray://head:10001"),
        (None, None),
    ],
)
def test_redact(url, shown) -> None:
    assert redact(url) == shown
    assert redact(shown) == shown  # masking twice changes nothing


def test_urls_that_differ_in_the_password_are_one_setting() -> None:
    for url in ("postgresql://ohgw:a@db/x", "postgresql://ohgw:b@db/x", "postgresql://ohgw@db/x"):
        assert without_password(url) == "postgresql://ohgw@db/x"
    assert without_password("postgresql://other@db/x") != "postgresql://ohgw@db/x"


def test_the_password_comes_from_the_url_or_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert password("postgresql://u:p%40ss@h/d") == "p@ss"  # as SQLAlchemy reads it
    assert password("postgresql://u@h/d") is None
    assert connect_url("postgresql://u:given@h/d") == "postgresql://u:given@h/d"
    assert connect_url("postgresql://u@h/d") == "postgresql://u@h/d"  # no password: as given
    with pytest.raises(
        ValueError, match=f"password is not given: set the environment variable {PASSWORD_ENV}"
    ):
        connect_url(f"postgresql://u:{MASK}@h/d")
    monkeypatch.setenv(PASSWORD_ENV, "n3w@pa/ss")
    assert password("postgresql://u@h/d") == "n3w@pa/ss"
    assert password("postgresql://u:given@h/d") == "given"  # the URL's own comes first
    for url in ("postgresql://u@h:1/d", f"postgresql://u:{MASK}@h:1/d"):
        assert connect_url(url) == "postgresql://u:n3w%40pa%2Fss@h:1/d"


def test_holds_password_hide_and_the_query_string() -> None:
    assert holds_password("postgresql://u:p@h/d")
    assert not holds_password(f"postgresql://u:{MASK}@h/d")
    assert not holds_password("postgresql://u@h/d") and not holds_password(None)
    assert hide("failed for p@ss (p%40ss)", "p@ss") == f"failed for {MASK} ({MASK})"
    check_url("postgresql://u:p@h/d")
    with pytest.raises(ValueError, match=r"password=\*\*\*, with a password in its query"):
        check_url("postgresql://h/d?password=s3cret")


def test_the_identity_is_masked_and_a_changed_password_continues_the_study() -> None:
    first = StudyConfig(engine="optuna", optuna_storage="postgresql://ohgw:old@db/ohgw")
    identity = first.identity(tau=0.5)
    assert identity["optuna_storage"] == "postgresql://ohgw:***@db/ohgw"
    assert "old" not in str(identity)
    for url in ("postgresql://ohgw:new@db/ohgw", "postgresql://ohgw@db/ohgw"):
        again = StudyConfig(engine="optuna", optuna_storage=url).identity(tau=0.5)
        assert identity_differences(identity, again) == []
    moved = StudyConfig(engine="optuna", optuna_storage="postgresql://ohgw:old@db2/ohgw")
    assert identity_differences(identity, moved.identity(tau=0.5)) == ["optuna_storage"]
    # a store of an older version holds the password: shown masked, compared without it
    stored = {**identity, "optuna_storage": "postgresql://ohgw:old@db/ohgw"}
    assert upgrade_settings(stored)["optuna_storage"] == "postgresql://ohgw:***@db/ohgw"
    assert identity_differences(stored, identity) == []


def test_a_child_gets_the_settings_and_the_password_through_its_environment(
    monkeypatch,
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    config = StudyConfig(engine="optuna", optuna_storage="postgresql://ohgw:s3cret@db/ohgw")
    env = child_env(config)
    assert env[PASSWORD_ENV] == "s3cret"
    assert "s3cret" not in env["OHGW_STUDY_CONFIG"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    child = config_from_env()
    assert child.optuna_storage == "postgresql://ohgw:***@db/ohgw"
    assert connect_url(child.optuna_storage) == "postgresql://ohgw:s3cret@db/ohgw"
    assert child.to_dict() == {**config.to_dict(), "optuna_storage": child.optuna_storage}
