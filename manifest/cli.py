"""Click helpers for the commands that read the admin manifest (kairan's own and the platforms')."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from manifest.loader import ManifestError, default_manifest, load_manifest
from manifest.schema import Manifest

MANIFEST_ENV = "KAIRAN_MANIFEST"
MANIFEST_HELP = "Admin manifest (env KAIRAN_MANIFEST); without one the embedded defaults apply."

manifest_option = click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=MANIFEST_ENV,
    default=None,
    help=MANIFEST_HELP,
)


def manifest_or_exit(path: Path | None) -> Manifest:
    """The manifest at ``path`` (the built-in one without a path); every error printed, exit status 2."""
    if path is None:
        return default_manifest()
    try:
        return load_manifest(path)
    except ManifestError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror}") from exc
