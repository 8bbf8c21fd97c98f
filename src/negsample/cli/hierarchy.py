"""`negsample hierarchy train|eval|plot`: the command-line face of negsample.hyperbolic
(Poincaré-ball embeddings of a transitive closure of (child, ancestor) pairs)."""
from __future__ import annotations

from .._common import NegsampleError
from ._options import add_negatives, format_loss, add_output, add_run_options, print_json, say, subparser


def add_cli(subparsers):
    p = subparsers.add_parser("hierarchy", help="Poincaré embeddings of hierarchies (Nickel & Kiela 2017)")
    sub = p.add_subparsers(dest="hierarchy_command", metavar="SUBCOMMAND")

    t = subparser(sub, "train", help="train Poincaré embeddings of a closure (child<TAB>ancestor pairs)")
    t.add_argument("closure", help="file of (child, ancestor) pairs: plain, .gz, .bz2 or .xz; '#' lines skipped")
    add_output(t, help="model file to write (.npz, negsample archive)")
    t.add_argument("--dim", type=int, default=10, help="dimension of the ball")
    add_negatives(t, negative=50, ns_exponent=1.0, noise_of="node count (pairs it occurs in)")
    t.add_argument("--noise", choices=("uniform", "frequency"), default="uniform",
                   help="distribution of the negatives before the ancestor filter (after the burn-in)")
    t.add_argument("--epochs", type=int, default=50, help="epochs after the burn-in")
    t.add_argument("--lr", type=float, default=0.5, help="Riemannian SGD learning rate")
    t.add_argument("--burn-in", type=int, default=10, help="first epochs at lr / --burn-in-factor")
    t.add_argument("--burn-in-factor", type=float, default=10.0, help="learning-rate divisor during the burn-in")
    t.add_argument("--burn-in-noise", choices=("uniform", "frequency"), default="frequency",
                   help="distribution of the burn-in's negatives (the paper's schedule: frequency, then uniform)")
    t.add_argument("--hard", type=int, default=0, metavar="M",
                   help="hard negatives: keep the K closest in the ball of M*K filtered draws (0: off)")
    t.add_argument("--eval", action="store_true", help="print the reconstruction mean rank and MAP afterwards")
    add_run_options(t)
    t.set_defaults(func=cmd_train)

    e = subparser(sub, "eval", help="reconstruction mean rank and MAP of a closure")
    e.add_argument("model", help="model file written by `negsample hierarchy train`")
    e.add_argument("closure", help="file of (child, ancestor) pairs")
    e.add_argument("--max-nodes", type=int, default=None, help="evaluate a random sample of this many nodes")
    add_run_options(e, with_seed=False)
    e.set_defaults(func=cmd_eval)

    pl = subparser(sub, "plot", help="draw a 2-D model in the Poincaré disc (needs matplotlib)")
    pl.add_argument("model", help="model file of dimension 2")
    add_output(pl, help="image file to write (.png, .pdf, .svg)")
    pl.add_argument("--closure", help="pairs file: draw each node's edge to its direct parent")
    pl.add_argument("--label", nargs="*", default=None, help="node names to print (default: the 40 most general)")
    pl.set_defaults(func=cmd_plot)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_train(args):
    from ..hyperbolic import PoincareModel, load_hierarchy
    from ..io import check_output_path

    check_output_path(args.output, [args.closure])
    h = load_hierarchy(args.closure)
    say(args, f"{h.n_nodes} nodes, {len(h.pairs)} (child, ancestor) pairs")
    m = PoincareModel(dim=args.dim, negative=args.negative, noise=args.noise, ns_exponent=args.ns_exponent,
                      epochs=args.epochs, lr=args.lr, burn_in=args.burn_in, burn_in_factor=args.burn_in_factor,
                      burn_in_noise=args.burn_in_noise, hard=args.hard, threads=args.threads, seed=args.seed)
    m.fit(h, progress=not (args.quiet or args.json))
    m.save(args.output, inputs=[args.closure])
    st = m.stats_
    out = {"hierarchy": h.stats(), "params": m.params(), "train_seconds": st["train_seconds"],
           "final_loss": st["epoch_losses"][-1] if st["epoch_losses"] else None, "filter": st["filter"],
           "output": args.output}
    if args.eval:
        out["eval"] = m.evaluate(h)
    if args.json:
        print_json(out)
        return 0
    say(args, f"trained in {st['train_seconds']:.2f} s ({st['pairs_per_second']:,.0f} pairs/s), final loss "
              f"{format_loss(out['final_loss'])}; wrote {args.output}")
    if args.eval:
        ev = out["eval"]
        print(f"reconstruction: mean rank {ev['mean_rank']:.2f}, MAP {ev['map']:.4f} ({ev['pairs']} pairs)")
    return 0


def cmd_eval(args):
    from ..hyperbolic import PoincareModel, load_hierarchy

    m = PoincareModel.load(args.model)
    h = load_hierarchy(args.closure)
    ev = m.evaluate(h, threads=args.threads, max_nodes=args.max_nodes)
    if args.json:
        print_json(ev)
    else:
        print(f"reconstruction: mean rank {ev['mean_rank']:.2f}, MAP {ev['map']:.4f} over {ev['nodes']} nodes, "
              f"{ev['pairs']} pairs ({ev['seconds']:.1f} s)")
    return 0


def cmd_plot(args):
    from ..hyperbolic import PoincareModel, load_hierarchy, plot_embedding

    m = PoincareModel.load(args.model)
    if m.dim != 2:
        raise NegsampleError(f"the model has dimension {m.dim}; plot draws dimension 2")
    h = load_hierarchy(args.closure) if args.closure else None
    if h is not None and list(h.names) != m.names:
        raise NegsampleError("the closure's nodes differ from the model's (train and plot with the same file)")
    plot_embedding(m.vectors_, m.names, args.output, hierarchy=h, label=args.label,
                   inputs=[args.model] + ([args.closure] if args.closure else []))
    return 0
