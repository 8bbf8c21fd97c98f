"""`negsample recsys train|eval|recommend`: the command-line face of negsample.recsys."""
from __future__ import annotations

from ._options import add_negatives, add_output, add_run_options, print_json, say, subparser


def add_cli(subparsers):
    p = subparser(subparsers, "recsys", help="implicit-feedback recommendation with popularity-aware negatives")
    sub = p.add_subparsers(dest="recsys_command", metavar="SUBCOMMAND")
    t = subparser(sub, "train", help="train a model on INTERACTIONS (user item [weight] [timestamp])")
    t.add_argument("interactions", help="interactions file (TSV/CSV/Parquet)")
    add_columns(t)
    add_output(t, help="model file to write (.npz)")
    t.add_argument("--dim", type=int, default=64, help="embedding dimension")
    t.add_argument("--epochs", type=int, help="passes over the interactions (default: 10 per-user, 40 otherwise)")
    t.add_argument("--lr", type=float, help="initial learning rate, decays linearly to 1%% (default: 0.1 "
                                            "per-user, 0.05 otherwise)")
    t.add_argument("--reg", type=float, help="L2 regularisation of the rows touched (default: 0.03 in all modes)")
    t.add_argument("--loss", choices=["softmax", "bpr", "sgns"],
                   help="sampled softmax (per-user, the default there), pairwise BPR (the default otherwise) or "
                        "SGNS (logistic)")
    t.add_argument("--weighting", choices=["confidence", "sample", "none"], default="confidence",
                   help="how the weight column counts: confidence scales each interaction's gradient by "
                        "1 + ALPHA*weight (normalised to mean 1), sample draws interactions in proportion to "
                        "their weight (not per-user), none ignores it")
    t.add_argument("--confidence-alpha", type=float, default=1.0, metavar="ALPHA",
                   help="ALPHA of --weighting confidence")
    add_negatives(t, negative=None, ns_exponent=0.5, modes=("per-user", "per-example", "shared"),
                  noise_of="item popularity",
                  negative_help="negatives per group of a user's interactions (per-user; default 50) or per "
                                "interaction (default 2 per-example, 5 shared)",
                  mode_help="per-user: k fresh draws per group of a user's interactions, shared by the group "
                            "(sampled softmax); per-example: k fresh draws per interaction; shared: one pool of k "
                            "per 64 interactions")
    u = t.add_argument_group("per-user training")
    u.add_argument("--steps-per-user", type=int, default=10, metavar="S",
                   help="groups each user's interactions are cut into per epoch (one step each)")
    u.add_argument("--no-item-context", dest="item_context", action="store_false",
                   help="user vectors without the sum of their items' context vectors")
    u.add_argument("--context-exponent", type=float, default=0.5, metavar="A",
                   help="the item-context sum is scaled by (number of items)^-A")
    a = t.add_argument_group("adaptive negatives, per-example mode (docs/design-adaptive.md)")
    a.add_argument("--candidates", type=int, metavar="M",
                   help="draw M filtered candidates per positive and keep the --negative top-scoring ones (dynamic "
                        "negatives; default 10 in per-example mode; 0: plain draws from the noise)")
    a.add_argument("--candidate-temperature", type=float, metavar="T", help="with --candidates: sample the "
                   "negatives with probability ∝ exp(score/T) instead of taking the top ones")
    a.add_argument("--adversarial-temperature", type=float, metavar="ALPHA", help="weight each negative's loss "
                   "by softmax(ALPHA score) over the positive's negatives (self-adversarial)")
    a.add_argument("--generator-dim", type=int, metavar="D", help="with --candidates: a generator model of "
                   "dimension D picks the negatives among the candidates and learns to fool the model")
    a.add_argument("--generator-lr", type=float, default=0.05, help="learning rate of the generator")
    t.add_argument("--holdout", choices=["last", "none"], default="last",
                   help="hold out each user's latest interaction for `recsys eval`, or train on all (the model "
                        "then cannot be evaluated)")
    add_run_options(t)
    t.set_defaults(func=cmd_train)

    e = subparser(sub, "eval", help="leave-last-out Recall@K / NDCG@K of a model, with the most-popular baseline")
    e.add_argument("model", help="model file written by `recsys train`")
    e.add_argument("interactions", help="the interactions file the model was trained on")
    add_columns(e)
    e.add_argument("--topn", type=int, default=10, metavar="K", help="cut-off K of the ranking metrics (Recall@K, NDCG@K)")
    add_run_options(e, with_seed=False, with_threads=False)
    e.set_defaults(func=cmd_eval)

    r = subparser(sub, "recommend", help="top-K items for users (original ids; users the model has not seen are "
                                         "folded in from their items in --interactions)")
    r.add_argument("model", help="model file written by `recsys train`")
    r.add_argument("users", nargs="+", help="user ids as in the interactions file")
    r.add_argument("--topn", type=int, default=10, metavar="N", help="items per user")
    r.add_argument("--interactions", help="exclude each user's items found in this file")
    add_columns(r)
    r.add_argument("--json", action="store_true", help="print one JSON object with the results on stdout")
    r.set_defaults(func=cmd_recommend)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def add_columns(p):
    """Column options of the interactions file (names with a header, 0-based positions without)."""
    g = p.add_argument_group("interactions file columns")
    g.add_argument("--user-col", metavar="COL", help="user column (default: user/user_id/customer_id/..., else the 1st)")
    g.add_argument("--item-col", metavar="COL", help="item column (default: item/item_id/article_id/movie/..., "
                                                      "else the 2nd)")
    g.add_argument("--weight-col", metavar="COL", help="weight column (default: weight/rating/count/value, else "
                                                        "the 3rd without a header; 'none' to ignore)")
    g.add_argument("--time-col", metavar="COL", help="time column, numbers or dates (default: timestamp/time/"
                                                      "date/..., else the 4th without a header; 'none' to ignore)")
    g.add_argument("--sep", help="field separator (default: tab if the first line has one, else comma, else "
                                 "whitespace)")
    g.add_argument("--header", dest="header", action="store_true", default=None,
                   help="the first line names the columns (default: inferred)")
    g.add_argument("--no-header", dest="header", action="store_false", help="the first line is an interaction")


def _col(value):
    if value is None:
        return None
    if value.lower() == "none":
        return False
    return int(value) if value.isdigit() else value


def load(args, path):
    from ..recsys import load_interactions

    sep = args.sep.encode().decode("unicode_escape") if args.sep else None  # --sep '\t'
    return load_interactions(path, user_col=_col(args.user_col), item_col=_col(args.item_col),
                             weight_col=_col(args.weight_col), time_col=_col(args.time_col), sep=sep,
                             header=args.header)


def _split(data, holdout):
    from ..recsys import leave_last_out

    if holdout == "none":
        return data.to_csr(), None, None
    mask, test = leave_last_out(data)
    import numpy as np

    tu = np.flatnonzero(test >= 0)
    return data.to_csr(mask), tu, data.items[test[tu]]


def cmd_train(args):
    from ..io import check_output_path
    from ..recsys import ImplicitModel

    check_output_path(args.output, inputs=[args.interactions], what="model")
    from ..samplers import NegativeGenerator, NegativeSampler

    from ..recsys import MODE_DEFAULTS

    defaults = MODE_DEFAULTS[args.negatives]
    candidates = defaults["candidates"] if args.candidates is None else args.candidates
    gen = NegativeGenerator(dim=args.generator_dim, lr=args.generator_lr) if args.generator_dim else None
    negatives = NegativeSampler(negative=defaults["negative"] if args.negative is None else args.negative,
                                ns_exponent=args.ns_exponent, mode=args.negatives,
                                candidates=candidates if args.negatives == "per-example" and candidates else None,
                                candidate_temperature=args.candidate_temperature,
                                adversarial_temperature=args.adversarial_temperature, generator=gen)
    model = ImplicitModel(dim=args.dim, negatives=negatives, epochs=args.epochs, lr=args.lr, reg=args.reg, loss=args.loss,
                          item_context=args.item_context, steps_per_user=args.steps_per_user,
                          context_exponent=args.context_exponent, weighting=args.weighting,
                          confidence_alpha=args.confidence_alpha, threads=args.threads, seed=args.seed)
    data = load(args, args.interactions)
    train, _, _ = _split(data, args.holdout)
    model.fit(train, progress=not (args.json or args.quiet), holdout=args.holdout)
    model.set_ids(data.user_ids, data.item_ids)
    model.save(args.output)
    out = {"users": data.n_users, "items": data.n_items, "interactions": len(data),
           "train_interactions": int(train.nnz), "duplicates_merged": data.duplicates_merged,
           "holdout": args.holdout, "train_seconds": model.stats["train_seconds"],
           "final_loss": model.stats["epoch_losses"][-1], "filter": model.stats["filter"],
           "adaptive": model.stats["adaptive"], "output": args.output}
    if args.json:
        print_json(out)
    else:
        say(args, f"trained on {out['train_interactions']} interactions ({out['users']} users, {out['items']} items, "
                  f"{out['duplicates_merged']} duplicates merged, holdout {args.holdout}) in "
                  f"{out['train_seconds']:.2f} s; wrote {args.output}")
    return 0


def cmd_eval(args):
    from .._common import NegsampleError
    from ..recsys import ImplicitModel, evaluate, fingerprint, most_popular_scores

    model = ImplicitModel.load(args.model)
    if model.holdout == "none":
        raise NegsampleError(f"{args.model} was trained with --holdout none: the held-out items were trained on, "
                             "so leave-last-out metrics would be meaningless; retrain with --holdout last")
    data = load(args, args.interactions)
    if model.user_ids is None or data.user_ids != model.user_ids or data.item_ids != model.item_ids:
        raise NegsampleError("the interactions file does not match the model's users/items")
    train, tu, ti = _split(data, "last")
    if model.train_fingerprint is not None and fingerprint(train) != model.train_fingerprint:
        raise NegsampleError("the interactions file's leave-last-out training split is not the one the model "
                             "was trained on")
    res = evaluate(model.scores, train, tu, ti, k=args.topn)
    pop = evaluate(most_popular_scores(train), train, tu, ti, k=args.topn)
    res["most_popular"] = pop
    if args.json:
        print_json(res)
    else:
        print(f"leave-last-out over {res['users']} users: Recall@{args.topn} {res['recall@k']:.4f}, "
              f"NDCG@{args.topn} {res['ndcg@k']:.4f}, coverage {res['coverage']:.3f} "
              f"(most-popular: Recall@{args.topn} {pop['recall@k']:.4f}, NDCG@{args.topn} {pop['ndcg@k']:.4f})")
    return 0


def cmd_recommend(args):
    import numpy as np
    import scipy.sparse as sp

    from ..recsys import ImplicitModel

    from .._common import NegsampleError

    model = ImplicitModel.load(args.model)
    if model.user_ids is None:
        model.user_index(args.users)   # the one-line error: the model has no original ids
    known = {u: j for j, u in enumerate(model.user_ids)}
    liked = sp.csr_matrix((len(args.users), model.n_items), dtype=np.float32)
    if args.interactions:
        data = load(args, args.interactions)
        pos = {it: j for j, it in enumerate(model.item_ids)}
        upos = {u: j for j, u in enumerate(data.user_ids)}
        rows, cols = [], []
        for b, u in enumerate(args.users):
            du = upos.get(str(u))
            if du is None:
                continue
            for i in data.items[data.users == du]:
                j = pos.get(data.item_ids[i])
                if j is not None:
                    rows.append(b)
                    cols.append(j)
        liked = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=liked.shape)
    new = [b for b, u in enumerate(args.users) if str(u) not in known]
    for b in new:   # users the model has not seen: folded in from their items in --interactions
        if liked[b].nnz == 0:
            raise NegsampleError(f"unknown user {args.users[b]!r}: not in the model; pass --interactions with their "
                                 "items to fold them in")
    if new and model.context_factors is None:
        raise NegsampleError(f"unknown user {args.users[new[0]]!r}: this model has no item context to fold users in "
                             "from their items (train with the default --negatives per-user)")
    ids = np.full((len(args.users), args.topn), -1, np.int32)
    scores = np.full((len(args.users), args.topn), -np.inf, np.float32)
    old = [b for b in range(len(args.users)) if b not in set(new)]
    for rows_b, recalc in ((old, False), (new, True)):
        if rows_b:
            uids = np.array([known.get(str(args.users[b]), -1) for b in rows_b], np.int64)
            ids[rows_b], scores[rows_b] = model.recommend(uids, liked[rows_b], N=args.topn, recalculate_user=recalc)
    result = {}
    for b, u in enumerate(args.users):
        keep = ids[b] >= 0
        result[str(u)] = [[str(x), float(s)] for x, s in zip(model.item_labels(ids[b][keep]), scores[b][keep])]
    if args.json:
        print_json(result)
    else:
        for u, recs in result.items():
            for item, s in recs:
                print(f"{u}\t{item}\t{s:.4f}" if len(args.users) > 1 else f"{item}\t{s:.4f}")
    return 0
