"""setup.cfg lists its packages by hand (kernels/ installs as minidl.kernels, which `find:`
cannot express): a subpackage missing from the list works in an editable install, which is
what the tests use, and is silently absent from a wheel, which is what users get."""
import configparser
import os

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def listed_packages() -> set:
    config = configparser.ConfigParser()
    config.read(os.path.join(REPOSITORY, "setup.cfg"))
    return set(config["options"]["packages"].split())


def packages_on_disk() -> set:
    found = {"minidl.kernels"}  # kernels/ at the top, installed under minidl
    for directory, _, files in os.walk(os.path.join(REPOSITORY, "minidl")):
        if "__init__.py" in files:
            relative = os.path.relpath(directory, REPOSITORY)
            found.add(relative.replace(os.sep, "."))
    return found


def test_every_package_is_listed_in_setup_cfg():
    assert packages_on_disk() - listed_packages() == set()


def test_every_listed_package_exists():
    assert listed_packages() - packages_on_disk() == set()
