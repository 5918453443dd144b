"""Random readouts and multi-index teachers: the network of docs/theory.md §12.1 against the theory of §12.2.

The network, at finite ``d`` (vectorised numpy, one ``SeedSequence`` per seed, draws in the fixed order
W0, u, θ's, first batch, training set, test set):

1. ``a_i = u_i/√p``, ``u_i`` i.i.d. from the readout law; rows of ``W0`` uniform on the unit sphere.
2. One step ``W1 = W0 + η̃ (1/n0) Σ_μ (y_μ − f0(x_μ)) [σ'(W0 x_μ) ⊙ u] x_μᵀ``, ``f0 = (1/p) Σ_i u_i σ(w_i·x)``.
3. Ridge on the readout (features ``σ(X W1ᵀ)``, fresh samples), training error and test error on
   ``n_test`` fresh samples.

Teachers: a single-index activation name (``σ*(θ·x/√d)``), or a multi-index target ``g(z_1, …, z_k)`` of
:data:`MULTI_INDEX` with ``θ_i·θ_j = d δ_ij``.

Run ``python benchmarks/readouts.py --case relu/tanh --readout rademacher --d 1000 --seeds 8`` (a multi-index
target: ``--case 'relu/tanh(z1)+0.5*z1*z2'``): prints
network mean ± sem and the theory (``readout_curve``) at each α.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srf_engine import Problem
from srf_engine.activations import get_activation
from srf_engine.theory.class_curve import readout_curve
from srf_engine.theory.multiindex import MULTI_INDEX_TARGETS
from srf_engine.theory.readout import ReadoutLaw, check_readout

Array = np.ndarray


#: Multi-index targets ``g(Z)`` (``Z`` the ``n × k`` matrix of ``z_j = θ_j·x/√d``), shared with the theory.
MULTI_INDEX = MULTI_INDEX_TARGETS
#: Students named on the command line beside the registry's (docs/fidelity.md's non-centred Hermite student).
STUDENTS: dict[str, object] = {"hermite": {"hermite": [0.5, 0.8, 0.3]}}


def _unit_rows(rng: np.random.Generator, p: int, d: int) -> Array:
    w = rng.standard_normal((p, d))
    return w / np.linalg.norm(w, axis=1, keepdims=True)


def _teacher_dirs(rng: np.random.Generator, k: int, d: int) -> Array:
    """``k × d`` with ``θ_i·θ_j = d δ_ij`` (Gaussian, Gram–Schmidt, rescaled)."""
    q, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return q.T * math.sqrt(d)


def simulate_network(
    student: object,
    teacher: object,
    *,
    readout: ReadoutLaw,
    learning_rate: float,
    alpha0: float,
    width: float,
    ridge: float,
    alphas: Sequence[float],
    d: int,
    seed: int,
    noise: float = 0.0,
    n_test: int = 10_000,
    block: int = 2_000,
) -> tuple[Array, Array]:
    """``(train, test)`` errors at each ``α`` of one seed (prefixes of one training set)."""
    sigma = get_activation(student, "student")
    if isinstance(teacher, str) and teacher in MULTI_INDEX:
        k, g = MULTI_INDEX[teacher].k, MULTI_INDEX[teacher].fn
    else:
        act = get_activation(teacher, "teacher")
        k, g = 1, (lambda z, act=act: np.asarray(act(z[:, 0]), dtype=float))
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    p = round(width * d)
    w0 = _unit_rows(rng, p, d)
    u = readout.sample(rng, p)
    theta = _teacher_dirs(rng, k, d)

    def labels(x: Array) -> Array:
        y = g(x @ theta.T / math.sqrt(d))
        return y + math.sqrt(noise) * rng.standard_normal(len(y)) if noise > 0 else y

    n0 = round(alpha0 * d)
    w1 = w0
    if n0 > 0 and learning_rate > 0:
        grad = np.zeros((p, d))
        for lo in range(0, n0, block):
            x0 = rng.standard_normal((min(block, n0 - lo), d))
            y0 = labels(x0)
            pre = x0 @ w0.T
            e = y0 - np.asarray(sigma(pre)) @ u / p
            grad += (np.asarray(sigma.derivative(pre)) * e[:, None]).T @ x0
        w1 = w0 + learning_rate * (u[:, None] * grad) / n0
    ns = [round(a * d) for a in alphas]
    n_max = max(ns)
    x = rng.standard_normal((n_max, d))
    y = labels(x)
    phi = np.asarray(sigma(x @ w1.T))
    del x
    xt = rng.standard_normal((n_test, d))
    yt = labels(xt)
    train, test = np.empty(len(ns)), np.empty(len(ns))
    for j, n in enumerate(ns):
        f, yy = phi[:n], y[:n]
        gram = f.T @ f / p + ridge * np.eye(p)
        w_hat = np.linalg.solve(gram, f.T @ yy / math.sqrt(p))
        train[j] = float(np.mean((yy - f @ w_hat / math.sqrt(p)) ** 2))
        sq = 0.0
        for lo in range(0, n_test, block):
            ft = np.asarray(sigma(xt[lo : lo + block] @ w1.T))
            sq += float(np.sum((yt[lo : lo + block] - ft @ w_hat / math.sqrt(p)) ** 2))
        test[j] = sq / n_test
    return train, test


def network_stats(seeds: Sequence[int], **kw) -> dict[str, list[float]]:
    """Mean and standard error over ``seeds`` of the training and test errors."""
    runs = [simulate_network(seed=s, **kw) for s in seeds]
    tr = np.array([r[0] for r in runs])
    te = np.array([r[1] for r in runs])
    sem = math.sqrt(len(seeds))
    return {
        "train": tr.mean(0).tolist(),
        "train_sem": (tr.std(0, ddof=1) / sem).tolist() if len(seeds) > 1 else [math.nan] * tr.shape[1],
        "test": te.mean(0).tolist(),
        "test_sem": (te.std(0, ddof=1) / sem).tolist() if len(seeds) > 1 else [math.nan] * te.shape[1],
    }


def speed(repeats: int = 3) -> None:
    """Print the time of one class (``readout_curve``) and of rademacher against today's §5 path
    (``theory_curve``, Marchenko–Pastur bulk, no row-norm channel) on the same 20-point sweep."""
    import time

    from srf_engine.theory.curve import theory_curve

    alphas = [float(a) for a in np.linspace(0.2, 4.0, 20)]
    for student, teacher in (("tanh", "sin"), ("relu", "tanh")):
        problem = Problem(student, teacher, learning_rate=2.0, alpha0=2.0, width=1.0)
        best = {"today": math.inf, "one class": math.inf, "rademacher": math.inf}
        for _ in range(repeats):
            for name in best:
                t0 = time.perf_counter()
                if name == "today":
                    kw = {"mapping": "corrected", "bulk": "marchenko_pastur", "row_norm": False}
                    theory_curve(problem, alphas, 0.05, baseline=False, **kw)
                else:
                    law = "uniform" if name == "one class" else "rademacher"
                    readout_curve(problem, alphas, 0.05, readout=law, bulk="marchenko_pastur")
                best[name] = min(best[name], time.perf_counter() - t0)
        base = best["today"]
        print(f"{student}/{teacher}: today {base:.3f} s; one class ×{best['one class'] / base:.2f}; "
              f"rademacher ×{best['rademacher'] / base:.2f}")  # fmt: skip


def _law_name(spec: str) -> str:
    if not spec.startswith("{"):
        return spec
    law = json.loads(spec)
    return "[" + ", ".join(f"{v:g}" for v in law["values"]) + "] w [" + ", ".join(
        f"{w:.3g}" for w in law["weights"]) + "]"  # fmt: skip


def _retheory(row: dict, bulk: str) -> dict[str, list]:
    """The row's theory recomputed with ``bulk`` (single-index rows; others keep their stored theory)."""
    student, teacher = row["case"].split("/", 1)
    if teacher in MULTI_INDEX:
        return row["theory"]
    spec = row["readout"]
    law = check_readout(json.loads(spec) if spec.startswith("{") else spec)
    problem = Problem(STUDENTS.get(student, student), teacher, learning_rate=2.0, alpha0=row["alpha0"],
                      width=row["width"])  # fmt: skip
    th = readout_curve(problem, row["alphas"], 0.05, readout=law, bulk=bulk)
    return {"test": th.test_errors, "train": th.train_errors}


def markdown(paths: Sequence[str], bulk: str | None = None) -> None:
    """The rows of ``--json`` files as the table of docs/fidelity.md (theory/network − 1; "ok": within 2 %
    test and 3 % training, or 2 standard errors); ``bulk`` recomputes the theory with that bulk law."""
    print(
        "| case | readout | α0 | width | d, seeds | α | network test | theory | network train | theory | ok |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in paths:
        for line in Path(path).read_text().splitlines():
            row = json.loads(line)
            net, th = row["network"], (_retheory(row, bulk) if bulk else row["theory"])
            for j, a in enumerate(row["alphas"]):
                cells, ok = [], True
                for key, rel in (("test", 0.02), ("train", 0.03)):
                    mean, sem, value = net[key][j], net[f"{key}_sem"][j], th[key][j]
                    ok = ok and abs(value - mean) <= max(rel * mean, 2 * sem)
                    cells += [f"{mean:.4f} ± {sem:.4f}", f"{100 * (value / mean - 1):+.1f} %"]
                head = [row["case"], _law_name(row["readout"]), f"{row['alpha0']:g}", f"{row['width']:g}",
                        f"{row['d']}, {row['seeds']}", f"{a:g}"]  # fmt: skip
                print("| " + " | ".join([*head, *cells, "ok" if ok else "—"]) + " |")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", default="relu/tanh", help="student/teacher")
    ap.add_argument("--readout", default="rademacher", help="uniform, rademacher, gaussian or JSON law")
    ap.add_argument("--alpha0", type=float, default=2.0)
    ap.add_argument("--eta", type=float, default=2.0)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--ridge", type=float, default=0.05)
    ap.add_argument("--alphas", default="0.5,2")
    ap.add_argument("--d", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--mapping", default="corrected")
    ap.add_argument("--json", help="append the row to this JSON-lines file")
    ap.add_argument("--speed", action="store_true", help="only time the theory against today's path")
    ap.add_argument("--markdown", nargs="+", help="print the rows of these --json files as a table")
    ap.add_argument("--bulk", help="with --markdown: recompute the theory with this bulk (one_step)")
    args = ap.parse_args(argv)
    if args.speed:
        speed()
        return
    if args.markdown:
        markdown(args.markdown, args.bulk)
        return
    student, teacher = args.case.split("/", 1)
    student = STUDENTS.get(student, student)
    readout = check_readout(json.loads(args.readout) if args.readout.startswith("{") else args.readout)
    alphas = [float(a) for a in args.alphas.split(",")]
    net = network_stats(
        range(args.first_seed, args.first_seed + args.seeds),
        student=student, teacher=teacher, readout=readout, learning_rate=args.eta, alpha0=args.alpha0,
        width=args.width, ridge=args.ridge, alphas=alphas, d=args.d,
    )  # fmt: skip
    row = {"case": args.case, "readout": args.readout, "alpha0": args.alpha0, "width": args.width,
           "d": args.d, "seeds": args.seeds, "alphas": alphas, "network": net}  # fmt: skip
    multi = teacher if teacher in MULTI_INDEX else None
    problem = Problem(student, "linear" if multi else teacher, learning_rate=args.eta, alpha0=args.alpha0,
                      width=args.width)  # fmt: skip
    kw = {"mapping": args.mapping, "target": multi}
    th = readout_curve(problem, alphas, args.ridge, readout=readout, **kw)
    uni = readout_curve(problem, alphas, args.ridge, readout="uniform", **kw)
    row["theory"] = {"test": th.test_errors, "train": th.train_errors}
    row["uniform_theory"] = {"test": uni.test_errors, "train": uni.train_errors}
    for j, a in enumerate(alphas):
        line = (f"α={a:g}  network test {net['test'][j]:.4f} ± {net['test_sem'][j]:.4f}"
                f"  train {net['train'][j]:.4f} ± {net['train_sem'][j]:.4f}")  # fmt: skip
        if "theory" in row:
            te, tr = row["theory"]["test"][j], row["theory"]["train"][j]
            line += (f" | theory test {te:.4f} ({100 * (te / net['test'][j] - 1):+.1f} %)"
                     f" train {tr:.4f} ({100 * (tr / net['train'][j] - 1):+.1f} %)"
                     f" | uniform theory test {row['uniform_theory']['test'][j]:.4f}")  # fmt: skip
        print(line, flush=True)
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
