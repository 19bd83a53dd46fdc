import pytest

from fleet.plumbing.dbconfig import ENGINE, configured_database


def test_nothing_configured_means_the_embedded_server() -> None:
    assert configured_database({}) is None


def test_database_url_is_parsed_into_a_psqlextra_entry() -> None:
    config = configured_database(
        {"DATABASE_URL": "postgres://fleet:s3cret@db.internal:6432/fleetdb"}
    )
    assert config is not None
    assert config["ENGINE"] == ENGINE
    assert (config["HOST"], config["PORT"], config["USER"], config["PASSWORD"], config["NAME"]) == (
        "db.internal",
        6432,
        "fleet",
        "s3cret",
        "fleetdb",
    )


def test_seed_variables_are_understood() -> None:
    config = configured_database(
        {
            "POSTGRES_HOST": "10.0.0.5",
            "POSTGRES_PORT": "5433",
            "POSTGRES_USERNAME": "ops",
            "POSTGRES_PASSWORD": "pw",
            "POSTGRES_DATABASE": "telemetry",
        }
    )
    assert config == {
        "ENGINE": ENGINE,
        "HOST": "10.0.0.5",
        "PORT": 5433,
        "USER": "ops",
        "PASSWORD": "pw",
        "NAME": "telemetry",
    }


def test_database_url_wins_over_seed_variables() -> None:
    config = configured_database(
        {"DATABASE_URL": "postgres://a@h1/d1", "POSTGRES_HOST": "h2", "POSTGRES_DATABASE": "d2"}
    )
    assert config is not None
    assert (config["HOST"], config["NAME"]) == ("h1", "d1")


def test_a_database_url_that_is_not_postgres_is_refused() -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        configured_database({"DATABASE_URL": "sqlite:///db.sqlite3"})


def test_a_unix_socket_folder_in_the_url_is_decoded() -> None:
    config = configured_database(
        {"DATABASE_URL": "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/fleet"}
    )
    assert config is not None
    assert (config["HOST"], config["NAME"]) == ("/var/run/postgresql", "fleet")
