"""``keyark serve``: the REST API and the dashboard (and, with ``--with-daemon``, the
scheduler and monitor) in one process, until SIGTERM/SIGINT."""

from __future__ import annotations

from pathlib import Path

import click

from keyark.cli.config_option import config_file_given, config_option


@click.command("serve")
@click.option(
    "--listen",
    default="127.0.0.1:8470",
    show_default=True,
    metavar="HOST:PORT",
    help="The address to listen on ([::1]:8470 for IPv6).",
)
@click.option(
    "--tls-cert", type=click.Path(dir_okay=False), help="Serve HTTPS: the certificate (PEM)."
)
@click.option(
    "--tls-key", type=click.Path(dir_okay=False), help="The certificate's private key (PEM)."
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Allow plain HTTP on an address that is not loopback.",
)
@click.option("--with-daemon", is_flag=True, help="Also run the scheduler and the monitor.")
@click.option(
    "--restore-root",
    type=click.Path(file_okay=False),
    help="Restores to a server path must land under this directory.",
)
@config_option
@click.pass_context
def command(
    ctx: click.Context,
    listen: str,
    tls_cert: str | None,
    tls_key: str | None,
    insecure_http: bool,
    with_daemon: bool,
    restore_root: str | None,
) -> None:
    """Serve the REST API and the dashboard over the config file's repositories and jobs."""
    from keyark.config.listen import listen_address
    from keyark.daemon.config_file import find_config, load_config
    from keyark.daemon.service import DaemonPlaces
    from keyark.errors import UsageError
    from keyark.server.listen import serve
    from keyark.server.settings import ServerSettings

    try:
        address = listen_address(listen)
    except ValueError as error:
        raise UsageError(str(error)) from None
    path = find_config(config_file_given(ctx))
    config = load_config(path)
    settings = ServerSettings(
        config=config,
        config_path=path,
        state_dir=DaemonPlaces.of(config).state_dir,
        listen_host=address.host,
        listen_port=address.port,
        tls_cert=Path(tls_cert) if tls_cert else None,
        tls_key=Path(tls_key) if tls_key else None,
        insecure_http=insecure_http,
        with_daemon=with_daemon,
        restore_root=Path(restore_root) if restore_root else None,
    )
    ctx.exit(serve(settings))
