"""`negsample kernels build|info`: build or inspect the native kernel library."""
from __future__ import annotations

from ._options import print_json, subparser


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("kernels", help="build or inspect the native kernel library",
                              description="The numba kernels compiled ahead of time into a shared library "
                                          "(see docs/design.md).")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="SUBCOMMAND")
    b = subparser(sub, "build", help="compile the kernels into PATH (default: the cache location)")
    b.add_argument("path", nargs="?", help="where to write the library")
    b.set_defaults(func=cmd_build)
    i = subparser(sub, "info", help="print the backend in use and the library path")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(func=cmd_info)


def cmd_build(args) -> int:
    from ..kernels import native

    print(native.build(args.path or native.library_path()))
    return 0


def cmd_info(args) -> int:
    from ..kernels import native

    info = {"backend": native.backend(), "library": native.loaded_path() or native.library_path(),
            "reason": native.reason()}
    if args.json:
        print_json(info)
    else:
        print(f"backend {info['backend']}  library {info['library']}"
              + (f"  ({info['reason']})" if info["reason"] else ""))
    return 0
