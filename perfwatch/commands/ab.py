"""`perfwatch ab`: two builds on this machine, interleaved round by round until each case is decided."""

from __future__ import annotations

import argparse
import math
import sys
import uuid
from dataclasses import replace
from datetime import datetime, timezone

from perfwatch.commands.common import add_case_selection, add_db, config, engine, jsonable, print_json, push_spool
from perfwatch.domain.errors import (EXIT_CASES_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REGRESSION, EXIT_RESULTS_LOST,
                                     UsageError)


def register(sub) -> None:
    p = sub.add_parser("ab", help="A/B: base and head builds on this machine, interleaved until decided")
    add_case_selection(p)
    for arm in ("base", "head"):
        p.add_argument(f"--{arm}-python", metavar="PATH", default=None,
                       help=f"interpreter of the {arm} arm's workers (another environment; default: this one)")
        p.add_argument(f"--{arm}-ref", metavar="GITREF", default=None,
                       help=f"git revision of the suite's repository for the {arm} arm, checked out as a "
                            f"temporary worktree (default: the working tree as it is)")
        p.add_argument(f"--{arm}-env", metavar="KEY=VALUE", action="append", default=[],
                       help=f"environment variable of the {arm} arm's workers (repeatable)")
    p.add_argument("--min-rounds", type=int, default=3, metavar="N", help="rounds before the first look (default 3)")
    p.add_argument("--max-rounds", type=int, default=20, metavar="N",
                   help="rounds at most; also the Bonferroni count of looks (default 20)")
    p.add_argument("--max-time", type=float, default=600.0, metavar="S",
                   help="no new round pair after S seconds (round 1 always runs; default 600)")
    p.add_argument("--min-effect", type=float, default=0.01, metavar="F",
                   help="the smallest change that matters, as a fraction (default 0.01 = 1%%)")
    p.add_argument("--alpha", type=float, default=0.01,
                   help="false-alarm rate over all looks at one case (default 0.01)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per worker process, compile included (default 900)")
    p.add_argument("--min-time", type=float, default=None, help="seconds of timed steps per process (default 1)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="torch intra-op threads per worker")
    p.add_argument("--format", default="table", choices=["table", "json", "markdown"])
    add_db(p)
    p.set_defaults(handler=cmd_ab)


def _settings(args: argparse.Namespace):
    from perfwatch.analysis.ab import Settings

    if not (math.isfinite(args.max_time) and args.max_time > 0):
        raise UsageError(f"--max-time must be a number of seconds > 0, got {args.max_time}")
    return Settings(min_rounds=args.min_rounds, max_rounds=args.max_rounds, alpha=args.alpha,
                    min_effect=args.min_effect)


def _arm_tags(ab_id: str, arm) -> dict[str, str]:
    tags = {"ab": ab_id, "arm": arm.name}
    req = arm.request
    if req.ref:
        tags["ab_ref"] = req.ref
    if req.python:
        tags["ab_python"] = arm.launch.python
    if req.env:
        tags["ab_env"] = " ".join(f"{k}={v}" for k, v in req.env)
    return tags


def cmd_ab(args: argparse.Namespace) -> int:
    from perfwatch.analysis import ab as decision
    from perfwatch.domain.vocab import is_suite_file
    from perfwatch.measure import ab_rounds as measure
    from perfwatch.measure import runner

    settings = _settings(args)
    requests = tuple(measure.ArmRequest(name, getattr(args, f"{name}_python"), getattr(args, f"{name}_ref"),
                                        measure.parse_env(getattr(args, f"{name}_env"), f"--{name}-env"))
                     for name in measure.ARMS)
    cfg = config(args, timeout_s=args.timeout, min_time_s=args.min_time, threads=args.threads)
    modes = runner.parse_modes(args.modes)
    benchmarks = tuple(b.strip() for b in args.benchmarks.split(",") if b.strip())
    ab_id = datetime.now(timezone.utc).strftime("ab-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    with measure.prepared(requests, args.suite, is_suite_file(args.suite)) as arms:
        plans, reqs = {}, {}
        for arm in arms:  # each arm's suite as that arm has it: benchmarks may differ between revisions
            reqs[arm.name] = runner.RunRequest(suite=arm.suite, backend=args.backend, modes=modes, benchmarks=benchmarks,
                                               size=args.size, dtype=args.dtype, tags=_arm_tags(ab_id, arm))
            plans[arm.name] = runner.plan(reqs[arm.name], cfg)
        pairs, only_base, only_head = measure.pair_specs(*(_supported(plans[a]) for a in measure.ARMS))
        if not pairs:
            raise UsageError("the base and head arms have no case in common to compare")
        eng = engine(cfg, write=True)  # stores results: creates or migrates the schema
        push_spool(eng, cfg)
        runs = {}
        for arm in arms:
            run = runner.new_run_info(plans[arm.name], reqs[arm.name])
            if arm.sha:  # the arm's revision, not the working tree's
                run = replace(run, git_sha=arm.sha, git_branch=None)
            software = measure.arm_software(arm)  # another interpreter: its torch, not ours
            if software:
                run = replace(run, environment={**run.environment, **software})
            runs[arm.name] = run
        for only, name in ((only_base, "base"), (only_head, "head")):
            if only:
                print(f"only in {name}, not compared: {', '.join(only)}", file=sys.stderr)
        print(f"ab {ab_id}: {len(pairs)} case(s), base run {runs['base'].run_id}, head run {runs['head'].run_id}; "
              f"up to {settings.max_rounds} rounds or {args.max_time:g} s", file=sys.stderr)
        sinks = _sinks(eng, cfg, runs)
        specs = {"base": [b for b, _ in pairs], "head": [h for _, h in pairs]}
        rounds = measure.interleave(
            arms, specs, {a: r.run_id for a, r in runs.items()}, cfg.timeout_s, settings.max_rounds, args.max_time,
            decide=lambda i, b, h: decision.decide(b, h, settings, exhausted=len(b) >= settings.max_rounds).decided,
            on_pair=lambda rnd, i, b, h: _progress(rnd, b, h))
        decisions = [decision.decide(rounds.base[i], rounds.head[i], settings, exhausted=True) for i in range(len(pairs))]
        spooled = _store(sinks, runs, rounds, interrupted=rounds.interrupted)

    _print(args.format, ab_id, runs, specs["base"], decisions, settings, only_base, only_head, rounds)
    if spooled:
        print(f"the database was unreachable: {spooled} result(s) kept in the spool; `perfwatch push` writes them",
              file=sys.stderr)
    lost = [(name, sink) for name, sink in sinks.items() if sink.lost]
    for name, sink in lost:  # measured, but kept nowhere: as `perfwatch run` says it, with exit 6
        print(f"perfwatch: {len(sink.lost)} result(s) of the {name} arm could not be kept and are lost: "
              f"{', '.join(sink.lost_names())}; the database: {sink.db_error or 'refused'}; the spool: "
              f"{sink.spool_error or 'refused'}", file=sys.stderr)
    if lost:
        return EXIT_RESULTS_LOST  # the verdict above stands, but some of what it rests on is gone
    if rounds.interrupted:
        return EXIT_INTERRUPTED
    if any(d.verdict == decision.SLOWER for d in decisions):
        return EXIT_REGRESSION
    return EXIT_CASES_FAILED if any(d.verdict == decision.FAILED for d in decisions) else EXIT_OK


def _supported(plan) -> tuple:
    """The plan's cases less those its suite says cannot run (no worker would start)."""
    return tuple(s for s in plan.specs if not plan.suite.get(s.benchmark).unsupported_reason(s.backend, s.mode))


def _sinks(eng, cfg, runs):
    from perfwatch.store import spool
    from perfwatch.store.sink import StoreSink

    sinks = {}
    for name, run in runs.items():
        sinks[name] = StoreSink(eng, spool.spool_path(cfg.resolved_spool_dir(), cfg.resolved_db_url()))
        sinks[name].run_started(run)
    return sinks


def _store(sinks, runs, rounds, interrupted: bool) -> int:
    """Each case once per arm: its rounds combined as `perfwatch run --processes N --interleave` does."""
    from perfwatch.domain.results import STATUS_OK
    from perfwatch.measure import repeats, runner

    spooled = 0
    for name, run in runs.items():
        sink, eager_ms, cases = sinks[name], {}, []
        for done in rounds.arm(name):
            if not done:  # interrupted before this case's first pair
                continue
            first = done[0]
            case = repeats.combine(first, done[1:], interleaved=True) if first.status == STATUS_OK else first
            st = case.metric("step_time")
            if case.spec.mode == "eager" and st:  # eager first in each benchmark: the speedup's reference
                eager_ms[case.spec.benchmark] = st.value
            case = runner.with_speedup(case, eager_ms)
            sink.case(run, case)
            cases.append(case)
        failed = sum(c.status != STATUS_OK for c in cases)
        sink.run_finished(run, len(cases), failed, "interrupted" if interrupted else "finished")
        spooled += sink.spooled
    return spooled


def _progress(rnd: int, base, head) -> None:
    def fig(c):
        st = c.metric("graph_time") or c.metric("step_time")
        return f"{st.value:.4g} ms" if c.status == "ok" and st else c.status
    print(f"round {rnd}: {base.spec.benchmark} [{base.spec.mode}] base {fig(base)}, head {fig(head)}", file=sys.stderr)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.2f}%"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _rows(specs, decisions):
    from perfwatch.cli.tables import fmt_num

    return [[s.benchmark, s.mode, d.metric or "-", fmt_num(d.base, 4), fmt_num(d.head, 4), _ratio(d.ratio),
             "-" if d.ci_low is None else f"[{d.ci_low:.4f}, {d.ci_high:.4f}]",
             "-" if d.pvalue is None else f"{d.pvalue:.2g}", "-" if d.detectable is None else f"±{_pct(d.detectable)}",
             str(d.rounds), d.verdict] for s, d in zip(specs, decisions)]


HEADERS = ["benchmark", "mode", "metric", "base (ms)", "head (ms)", "head/base", "CI", "p-value", "detectable",
           "rounds", "verdict"]


def _notes(specs, decisions) -> list[str]:
    out = []
    for s, d in zip(specs, decisions):
        for check in d.checks:
            out.append(f"{s.label()} REGRESSION {check}")
        if d.verdict in ("failed", "unknown"):
            out.append(f"{s.label()} {d.verdict}: {d.reason}")
    return out


def _print(fmt, ab_id, runs, specs, decisions, settings, only_base, only_head, rounds) -> None:
    level = f"{settings.level * 100:.4g}%"
    if fmt == "json":
        print_json({"ab": ab_id, "runs": {a: r.run_id for a, r in runs.items()},
                    "settings": {"min_rounds": settings.min_rounds, "max_rounds": settings.max_rounds,
                                 "alpha": settings.alpha, "min_effect": settings.min_effect, "ci_level": settings.level},
                    "rounds_run": rounds.rounds_run, "interrupted": rounds.interrupted, "out_of_time": rounds.out_of_time,
                    "only_base": only_base, "only_head": only_head,
                    "cases": [jsonable({"benchmark": s.benchmark, "mode": s.mode, **d.to_dict()})  # inf as "inf"
                              for s, d in zip(specs, decisions)]})
        return
    if fmt == "markdown":
        print(f"### perfwatch ab `{ab_id}`\n")
        print(f"base run `{runs['base'].run_id}`, head run `{runs['head'].run_id}`; CI at {level} "
              f"(alpha {settings.alpha:g} over up to {settings.max_rounds} looks), margin ±{settings.min_effect * 100:g}%\n")
        print("| " + " | ".join(HEADERS) + " |")
        print("|" + "---|" * len(HEADERS))
        for row in _rows(specs, decisions):
            print("| " + " | ".join(row) + " |")
        notes = _notes(specs, decisions)
        if notes:
            print()
            for n in notes:
                print(f"- {n}")
        return
    from perfwatch.cli.tables import render

    print(render(HEADERS, _rows(specs, decisions), right=(3, 4, 5, 7, 8, 9)))
    for n in _notes(specs, decisions):
        print(f"  {n}")
    print(f"CI at {level} (alpha {settings.alpha:g} over up to {settings.max_rounds} looks), "
          f"margin ±{settings.min_effect * 100:g}%")
    print(f"base run {runs['base'].run_id}, head run {runs['head'].run_id}")
