"""Package list: the ``bot`` package, plus the top-level migrations/ installed as
``bot.migrations`` so that an installed studybot can migrate its database."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["bot", "bot.*"]), "bot.migrations", "bot.migrations.versions"],
    package_dir={"bot.migrations": "migrations", "bot.migrations.versions": "migrations/versions"},
)
