"""`negsample recsys train|eval|recommend`: the command-line face of negsample.recsys."""
from __future__ import annotations

import json

import numpy as np
import scipy.sparse as sp

from .._common import NegsampleError
from ..recsys import ImplicitModel, evaluate, leave_last_out, load_interactions, most_popular_scores


def add_cli(subparsers):
    p = subparsers.add_parser("recsys", help="implicit-feedback recommendation with popularity-aware negatives")
    sub = p.add_subparsers(dest="recsys_command", metavar="SUBCOMMAND")
    t = sub.add_parser("train", help="train on INTERACTIONS (user item [weight] [timestamp])")
    t.add_argument("interactions")
    t.add_argument("-o", "--output", required=True, help="model file (.npz)")
    t.add_argument("--dim", type=int, default=64)
    t.add_argument("--negative", type=int, default=5)
    t.add_argument("--ns-exponent", type=float, default=0.75)
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--lr", type=float, default=0.05)
    t.add_argument("--reg", type=float, default=0.01)
    t.add_argument("--loss", choices=["bpr", "sgns"], default="bpr")
    t.add_argument("--shared", action="store_true", help="one negative pool per block of interactions")
    t.add_argument("--holdout", choices=["last", "none"], default="last",
                   help="hold out each user's latest interaction for `recsys eval` (default) or train on all")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("eval", help="leave-last-out Recall@K / NDCG@K of a model")
    e.add_argument("model")
    e.add_argument("interactions")
    e.add_argument("--k", type=int, default=10)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)
    r = sub.add_parser("recommend", help="top-K items for a user")
    r.add_argument("model")
    r.add_argument("user")
    r.add_argument("--k", type=int, default=10)
    r.add_argument("--interactions", help="exclude the user's items found in this file")
    r.set_defaults(func=cmd_recommend)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_train(args):
    data = load_interactions(args.interactions)
    mask, _ = leave_last_out(data) if args.holdout == "last" else (None, None)
    model = ImplicitModel(dim=args.dim, negative=args.negative, ns_exponent=args.ns_exponent, epochs=args.epochs,
                          lr=args.lr, reg=args.reg, loss=args.loss, shared=args.shared, threads=args.threads,
                          seed=args.seed)
    model.fit(data, mask, progress=not args.json)
    model.save(args.output)
    out = {"users": data.n_users, "items": data.n_items, "interactions": len(data),
           "duplicates_merged": data.duplicates_merged, "train_seconds": model.stats["train_seconds"],
           "final_loss": model.stats["epoch_losses"][-1], "rejected_negatives": model.stats["rejected_negatives"],
           "output": args.output}
    print(json.dumps(out) if args.json else
          f"trained on {out['interactions']} interactions ({out['users']} users, {out['items']} items, "
          f"{out['duplicates_merged']} duplicates merged) in {out['train_seconds']:.2f} s; wrote {args.output}")
    return 0


def cmd_eval(args):
    model = ImplicitModel.load(args.model)
    data = load_interactions(args.interactions)
    if data.user_ids != model.user_ids or data.item_ids != model.item_ids:
        raise NegsampleError("the interactions file does not match the model's users/items")
    mask, test = leave_last_out(data)
    train = sp.csr_matrix((np.ones(mask.sum(), np.float32), (data.users[mask], data.items[mask])),
                          shape=(data.n_users, data.n_items))
    tu = np.flatnonzero(test >= 0)
    res = evaluate(model.scores, train, tu, data.items[test[tu]], k=args.k)
    pop = evaluate(most_popular_scores(train), train, tu, data.items[test[tu]], k=args.k)
    res["most_popular"] = pop
    if args.json:
        print(json.dumps(res))
    else:
        print(f"leave-last-out over {res['users']} users: Recall@{args.k} {res['recall@k']:.4f}, "
              f"NDCG@{args.k} {res['ndcg@k']:.4f}, coverage {res['coverage']:.3f} "
              f"(most-popular: Recall@{args.k} {pop['recall@k']:.4f}, NDCG@{args.k} {pop['ndcg@k']:.4f})")
    return 0


def cmd_recommend(args):
    model = ImplicitModel.load(args.model)
    exclude = None
    if args.interactions:
        data = load_interactions(args.interactions)
        u = model.user_index(args.user)
        item_pos = {it: j for j, it in enumerate(model.item_ids)}
        exclude = {item_pos[data.item_ids[i]] for i in data.items[data.users == data.user_ids.index(model.user_ids[u])]
                   if data.item_ids[i] in item_pos} if model.user_ids[u] in data.user_ids else None
    for item, score in model.recommend(args.user, k=args.k, exclude=exclude):
        print(f"{item}\t{score:.4f}")
    return 0
