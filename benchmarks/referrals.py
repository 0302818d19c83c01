"""Referral-slip benchmarks: one slip as the slip route prints it, and a day's batch in one PDF.

Set-up: real referrals issued through ``issue_referral`` (screening, determination, status
history, audit event) as the benchmark clerk, for (household, scheme) pairs the SQL back-end
finds eligible, in the seeded country's slip languages in turn (Pakistan: English and Urdu, so
half the slips are shaped right to left). Everything runs in one transaction that is rolled back
at the end, so no referral, determination or audit event is left for other benchmarks (the
dashboards add their own activity only to a registry without determinations).

* ``slips.one_ms``: median of ``get_referral`` + ``print_slips`` for one referral, each call
  starting from expired ORM state (what ``/referrals/<ref>/slip.pdf`` does, minus HTTP): an A5
  PDF with Code128 and QR code and the audit row, a copy after the first print. Baseline: a bare
  reportlab A5 page with the slips' embedded body font and one line of text, so the ratio is the
  price of the slip's content.
* ``slips.batch_1000_s``: ``day_referrals`` + ``print_slips`` of 1,000 slips into one PDF (what
  ``/referrals/batch.pdf`` does); 50 with ``--smoke``, target scaled. The PDF is read back with
  pypdf and its page count checked. Baseline: the number of slips times the one-slip median.
"""

from __future__ import annotations

import datetime as dt
import io
import statistics
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks import Context, Figure, benchmark
from benchmarks.registry import _bench_user
from sw_mis.eligibility.sql import scheme_select
from sw_mis.referrals import services, slips
from sw_mis.referrals.models import Referral
from sw_mis.registry.models import Household

ONE_TARGET_MS = 25.0
BATCH, SMOKE_BATCH = 1000, 50
BATCH_TARGET_S = 20.0
#: Households screened in SQL per step; steps go on, in id order, until there are enough pairs.
WINDOW = 2000


def _eligible_pairs(
    ctx: Context, session: Session, book: Any, as_of: dt.date
) -> Iterator[tuple[int, str, int | None]]:
    """Yield (household id, scheme, member id) pairs found eligible, schemes taken in turn."""
    first, last = session.execute(
        select(func.min(Household.id), func.max(Household.id)).where(
            Household.country == ctx.country, Household.status == "active"
        )
    ).one()
    if first is None:
        raise SystemExit(f"no {ctx.country} households: run the seed benchmark first")
    schemes = sorted(
        sid
        for sid, s in book.schemes.items()
        if s.country == ctx.country and s.parameters_on(as_of) is not None
    )
    after = first - 1
    while after < last:
        upto = after + WINDOW
        found: list[list[tuple[int, str, int | None]]] = []
        for sid in schemes:
            s = scheme_select(book, sid, as_of, after, upto).subquery()
            rows = session.execute(
                select(s.c.household_id, s.c.member_id)
                .where(s.c.outcome == "eligible")
                .order_by(s.c.household_id, s.c.member_id)
            ).all()
            # One member per (household, scheme): a slip each, as a clerk would issue them.
            seen: set[int] = set()
            pairs = []
            for household_id, member_id in rows:
                if household_id not in seen:
                    seen.add(household_id)
                    pairs.append((household_id, sid, member_id))
            found.append(pairs)
        # Interleave the schemes, so the slips carry every scheme's documents and reasons.
        for i in range(max((len(p) for p in found), default=0)):
            for pairs in found:
                if i < len(pairs):
                    yield pairs[i]
        after = upto


def _issue(
    ctx: Context, session: Session, user: Any, wanted: int
) -> tuple[list[Referral], int, float]:
    """Issue ``wanted`` referrals; return them, how many pairs were refused, and the seconds."""
    book = ctx.app.extensions["sw_mis.rulebook"]
    settings = ctx.app.config["SW_MIS"]
    today = services.today()
    pack = book.packs.get(ctx.country)
    languages = [lang for lang in (pack.languages if pack else ["en"]) if lang in slips.LANGUAGES]
    issued: list[Referral] = []
    refused = 0
    start = time.perf_counter()
    for household_id, scheme_id, member_id in _eligible_pairs(ctx, session, book, today):
        household = session.get(Household, household_id)
        assert household is not None
        try:
            referral = services.issue_referral(
                session,
                user,
                household,
                scheme_id,
                book=book,
                settings=settings,
                member_id=member_id,
                counter=str(1 + len(issued) % 8),
                language=languages[len(issued) % len(languages)] if languages else None,
            )
        except services.ReferralError:
            # The counter engine disagrees with the SQL back-end, or an open referral exists
            # (a kept database): the service refuses before writing anything.
            refused += 1
            continue
        issued.append(referral)
        if len(issued) == wanted:
            break
    seconds = time.perf_counter() - start
    if len(issued) < wanted:
        raise SystemExit(
            f"only {len(issued)} eligible referrals could be issued ({wanted} wanted): "
            "seed more households (--households)"
        )
    return issued, refused, seconds


def _bare_page() -> bytes:
    """Return a reportlab A5 page with the slip fonts embedded and one line of text."""
    from reportlab.pdfgen.canvas import Canvas

    slips._fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=slips.PAGE_SIZES["A5"], pageCompression=1)
    canvas.setFont("SwSans", 9)
    canvas.drawString(30, 500, "Referral slip R123456786")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _timed_ms(
    fn: Any, iterations: int, warmup: int, before: Any = None
) -> tuple[list[float], list[float]]:
    """Return wall and process CPU times of ``fn(i)`` in ms; ``before(i)`` runs untimed first.

    CPU time says what the work costs when the machine is shared (wall time then includes
    waiting for a core); it leaves out the database server's share.
    """
    wall, cpu = [], []
    for i in range(warmup + iterations):
        if before is not None:
            before(i)
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(i)
        if i >= warmup:
            wall.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


@benchmark("slips")
def referral_slips(ctx: Context) -> Iterator[Figure]:
    """Median time to print one referral slip (≤ 25 ms) and a 1,000-slip batch PDF (≤ 20 s)."""
    from pypdf import PdfReader

    book = ctx.app.extensions["sw_mis.rulebook"]
    settings = ctx.app.config["SW_MIS"]
    batch = SMOKE_BATCH if ctx.smoke else BATCH
    dialect = ctx.engine.dialect.name
    with ctx.app.app_context():
        session = sessionmaker(bind=ctx.engine, expire_on_commit=False)()
        try:
            user = _bench_user(ctx, session)
            referrals, refused, issue_s = _issue(ctx, session, user, batch)
            refs = [r.ref for r in referrals]
            mine = {r.id for r in referrals}
            urdu = sum(r.language in slips.RTL_LANGUAGES for r in referrals)

            # One slip, as the slip route prints it. Each call starts from expired objects, so
            # it loads its rows as a request does (the referral, household, members…).
            def one(i: int) -> None:
                referral = services.get_referral(session, user, refs[i % len(refs)])
                services.print_slips(
                    session, user, [referral], book=book, settings=settings, page_size="A5"
                )

            iterations = min(ctx.iterations, 300)
            timings, cpu = _timed_ms(one, iterations, 10, before=lambda _i: session.expire_all())
            baseline, _ = _timed_ms(lambda _i: _bare_page(), iterations, 10)
            one_ms = statistics.median(timings)
            yield Figure(
                name="slips.one_ms",
                value=round(one_ms, 2),
                unit="ms",
                target=ONE_TARGET_MS,
                baseline=round(statistics.median(baseline), 2),
                notes=f"median of {iterations} A5 slips (Code128, QR, reprints marked COPY; "
                f"{urdu} of {batch} referrals in Urdu) via get_referral + print_slips, audit "
                f"row included; {statistics.median(cpu):.1f} ms of process CPU; {dialect}, "
                f"{ctx.households} households; baseline: a bare reportlab page with the same "
                "fonts and one line of text",
            )

            # A day's batch, as /referrals/batch.pdf prints it.
            session.expire_all()
            start, start_cpu = time.perf_counter(), time.process_time()
            day = services.day_referrals(session, user, services.today())
            printed = [r for r in day if r.id in mine]
            pdf = services.print_slips(
                session, user, printed, book=book, settings=settings, page_size="A5"
            )
            batch_s = time.perf_counter() - start
            batch_cpu = time.process_time() - start_cpu
            others = len(day) - len(printed)
            if len(printed) != batch:
                raise RuntimeError(f"the day's batch holds {len(printed)} of {batch} referrals")
            pages = PdfReader(io.BytesIO(pdf)).pages
            if len(pages) != batch:
                raise RuntimeError(f"the batch PDF has {len(pages)} pages for {batch} slips")
            for index in (0, batch - 1):
                text = pages[index].extract_text() or ""
                if printed[index].ref not in text:
                    raise RuntimeError(f"page {index + 1} does not show {printed[index].ref}")
            yield Figure(
                name="slips.batch_1000_s",
                value=round(batch_s, 2),
                unit="s",
                target=round(BATCH_TARGET_S * batch / BATCH, 3),
                baseline=round(batch * one_ms / 1000, 2),
                notes=f"{batch} A5 slips in one PDF of {len(pages)} pages, "
                f"{len(pdf) / 1e6:.1f} MB, via day_referrals + print_slips, "
                f"{batch_cpu:.1f} s of process CPU; target "
                f"{BATCH_TARGET_S:g} s per {BATCH}, scaled; baseline: {batch} x the one-slip "
                f"median; set-up issued {batch} referrals in {issue_s:.1f} s "
                f"({refused} pairs refused by the counter)"
                + (f"; {others} other open referrals of the day left out" if others else ""),
            )
        finally:
            # Nothing is kept: referrals, determinations, audit events and copy counts go.
            session.rollback()
            session.close()
