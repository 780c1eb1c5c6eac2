"""``edgekit device-env``: set up / show the emulated device environments (registered in edgekit.cli).
Light imports only; exit 2 on bad input (EdgekitError, printed by the CLI)."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

app = typer.Typer(help="The emulated device environments (qemu-user + Debian arm64 root + device runtime wheels).",
                  no_args_is_help=True)


def _runtimes(target: str, runtime: Optional[list[str]], python: str):
    from edgekit.errors import ConfigError
    from edgekit.targets import DeviceRuntime, load_target

    profile = load_target(target)
    if not runtime:
        if not profile.device_runtimes:
            raise ConfigError(f"target {profile.name!r} names no device_runtimes; pass --runtime NAME==VERSION")
        return profile, list(profile.device_runtimes)
    out = []
    for spec in runtime:
        name, sep, version = spec.partition("==")
        if not sep:
            raise ConfigError(f"--runtime {spec!r}: write NAME==VERSION, e.g. tflite-runtime==2.14.0")
        try:
            out.append(DeviceRuntime(name=name, version=version, python=python))
        except ValueError:
            raise ConfigError(f"--runtime {spec!r}: NAME is tflite-runtime or ai-edge-litert, VERSION like 2.14.0") from None
    from edgekit.device_wheels import check

    for rt in out:
        problem = check(rt.name, rt.version, rt.python, profile.arch or "aarch64")
        if problem:
            raise ConfigError(f"--runtime: {problem}")
    return profile, out


@app.command()
def setup(
    target: Annotated[str, typer.Option("--target", "-t", help="Profile whose device_runtimes to set up.")] = "rpi",
    runtime: Annotated[Optional[list[str]], typer.Option("--runtime", help="NAME==VERSION instead of the profile's (repeatable).")] = None,
    python: Annotated[str, typer.Option(help="Python version of --runtime entries.")] = "3.11",
) -> None:
    """Install the emulated environment of each device runtime (once; cached under $EDGEKIT_DEVICE_ENV)."""
    from edgekit.device.env import ensure, env_root

    profile, runtimes = _runtimes(target, runtime, python)
    t0 = time.monotonic()
    for rt in runtimes:
        env = ensure(rt, profile.arch or "aarch64", progress=lambda m: typer.echo(f"  {m}", err=True))
        typer.echo(f"{rt.label} on {env.arch}: ready ({env.site})")
    typer.echo(f"device environments under {env_root()} ({time.monotonic() - t0:.0f} s)")


@app.command()
def status(
    target: Annotated[str, typer.Option("--target", "-t", help="Profile whose device_runtimes to show.")] = "rpi",
) -> None:
    """Show which device environments are set up (installs nothing)."""
    from edgekit.device.env import env_root, find

    profile, runtimes = _runtimes(target, None, "3.11")
    for rt in runtimes:
        env = find(rt, profile.arch or "aarch64")
        typer.echo(f"{rt.label}: {'ready' if env else 'not set up (edgekit device-env setup)'}")
    typer.echo(f"cache: {env_root()}")
