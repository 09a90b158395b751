"""The console in a real browser: Debian's Chromium, headless, driven by Playwright.

Run as its own process — ``python browser.py SCENARIO '{"base": ..., ...}'`` —
because the test process runs under eventlet, which Playwright's event loop
does not survive. Each scenario signs people in and does what they would do;
a failed expectation exits non-zero with Playwright's message, and the last
line of stdout is the scenario's findings as JSON.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("ZHIDU_CHROMIUM", "/usr/bin/chromium")
# The machine's network is closed: without these Chromium waits on connections
# (updates, sync, QUIC probes) that never come.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--lang=zh-CN"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


@contextmanager
def browser(viewport=DESKTOP):
    profile = tempfile.mkdtemp(prefix="zhidu-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
            context.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def sign_in(context, base: str, employee_id: str, password: str):
    context.clear_cookies()
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("工号").fill(employee_id)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1, name="我的待办")).to_be_visible()
    return page


def sign_out(page):
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("heading", name="登录")).to_be_visible()


def shoot(page, out: str | None, name: str) -> None:
    """The page as it is, at desktop width and at a phone's."""
    if not out:
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(Path(out) / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(size)


# -- scenarios ---------------------------------------------------------------------------
def file_complaint(args: dict) -> dict:
    """A customer-service clerk files a complaint, corrected as she types."""
    with browser() as context:
        page = sign_in(context, args["base"], args["clerk"], args["password"])
        page.get_by_role("navigation").get_by_role("link", name="客诉受理台").click()
        page.get_by_role("link", name="登记投诉").click()
        expect(page.get_by_role("heading", name="客户抱怨处理表")).to_be_visible()
        page.get_by_label("受理渠道").select_option("phone")
        page.get_by_label("客户投诉").check()
        page.get_by_label("服务（人为因素）").check()
        page.get_by_label("投诉人姓名").fill("王女士")
        phone = page.get_by_label("联系电话")
        phone.fill("138-abc")
        # Checked as she types: the service's phone rule, in her words.
        expect(page.locator("#err-complainant_phone")).to_contain_text("电话号码格式不对")
        phone.fill("13812345678")
        expect(page.locator("#err-complainant_phone")).to_be_empty()
        page.get_by_label("投诉事由").fill("维修人员态度差")
        page.get_by_label("详细情况").fill("业主来电反映维修人员上门时态度恶劣，电话里两次挂断。")
        page.get_by_label("客户要求").fill("道歉并重新安排上门")
        page.get_by_label("被投诉部门").fill("service")
        # A quality complaint needs its order: the order part appears and asks for it.
        page.get_by_label("质量异常").check()
        expect(page.get_by_label("订单编号")).to_be_visible()
        page.get_by_label("服务（人为因素）").check()
        expect(page.get_by_label("订单编号")).to_be_hidden()
        shoot(page, args.get("shots"), "complaint-form")
        page.get_by_role("button", name="提交客户抱怨处理表").click()
        expect(page).to_have_url(re.compile(r"/complaints/\d{4}-\d{4,}$"))
        number = page.url.rsplit("/", 1)[1]
        expect(page.get_by_role("status")).to_contain_text(f"编号 {number}")
        expect(page.get_by_role("heading", level=1)).to_contain_text(number)
        expect(page.locator("[data-clock=acknowledge]")).to_contain_text("剩余")
        return {"number": number}


def masked_phone(args: dict) -> dict:
    """A staff user sees the complainant's phone masked (001 §2)."""
    with browser() as context:
        page = sign_in(context, args["base"], args["staff"], args["password"])
        page.goto(f"{args['base']}/complaints/{args['number']}")
        phone = page.locator("#complainant-phone")
        expect(phone).to_have_text(re.compile(r"^\d{3}\*+\d{4}$"))
        expect(page.get_by_text("联系方式已按客户信息保密规定遮蔽")).to_be_visible()
        shoot(page, args.get("shots"), "complaint-case")
        return {"phone": phone.inner_text()}


def remedy(args: dict) -> dict:
    """A department manager is refused a 5,000-yuan remedy; the deputy GM approves it."""
    base, number = args["base"], args["number"]
    with browser() as context:
        page = sign_in(context, base, args["manager"], args["password"])
        page.goto(f"{base}/complaints/{number}")
        page.locator("summary", has_text="审批补偿方案").click()
        page.locator("details.step", has_text="审批补偿方案").get_by_role(
            "button", name="审批补偿方案").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("无权办理")
        expect(alert).to_contain_text("5000元的补偿须由副总经理或更高职级审批")
        expect(alert).to_contain_text("003 §4 3.6.1")
        refusal = alert.inner_text()
        expect(page.locator("p", has_text="补偿待审批").or_(
            page.locator(".badge", has_text="补偿待审批")).first).to_be_visible()
        sign_out(page)

        page = sign_in(context, base, args["deputy"], args["password"])
        queue = page.locator("section.duty", has_text="在您权限内待审批的补偿方案")
        expect(queue).to_contain_text(number)
        expect(queue).to_contain_text("003 §4 3.6.1")
        shoot(page, args.get("shots"), "my-work-deputy-gm")
        queue.locator("li", has_text=number).get_by_role("button", name="审批补偿方案").click()
        expect(page.get_by_role("status")).to_contain_text("已办理：审批补偿方案")
        expect(page.locator(".badge", has_text="补偿已批准")).to_be_visible()
        return {"refusal": refusal}


def leave(args: dict) -> dict:
    """An employee asks for 3 days' personal leave and sees it wait for the GM."""
    base = args["base"]
    with browser() as context:
        page = sign_in(context, base, args["employee"], args["password"])
        page.get_by_role("navigation").get_by_role("link", name="请假").click()
        page.get_by_label("假别").select_option("personal")
        page.get_by_label("开始日期").fill(args["start"])
        page.get_by_label("结束日期").fill(args["end"])
        page.get_by_label("原因").fill("家中有事")
        page.get_by_role("button", name="提交请假审批表").click()
        expect(page.get_by_role("status")).to_contain_text("等待直接主管审批")
        mine = page.locator("ul.items li").first
        expect(mine).to_contain_text("直接主管 → 总经理")
        leave_id = mine.locator("strong").inner_text().split(" ")[0]
        sign_out(page)

        page = sign_in(context, base, args["supervisor"], args["password"])
        queue = page.locator("section.duty", has_text="待审批的请假")
        item = queue.locator("li", has_text=leave_id)
        expect(queue).to_contain_text("000 §2 四.3(2)")
        item.get_by_role("button", name="同意", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text(f"已同意请假 {leave_id}")
        sign_out(page)

        page = sign_in(context, base, args["employee"], args["password"])
        page.goto(f"{base}/leave")
        mine = page.locator("ul.items li", has_text=leave_id)
        expect(mine.locator(".waiting")).to_have_text("等待总经理审批")
        shoot(page, args.get("shots"), "leave")
        return {"leave_id": leave_id}


def notice(args: dict) -> dict:
    """The sanctioned employee's supervisor instructs on the notice, then the GM approves
    it; the employee sees the deduction and the notice."""
    base = args["base"]
    with browser() as context:
        page = sign_in(context, base, args["supervisor"], args["password"])
        section = page.locator("section.duty", has_text="待您批示的个人惩处")
        item = section.locator("li", has_text=args["number"])
        expect(item).to_be_visible()
        cite = section.locator("blockquote.rule cite")
        expect(cite).to_contain_text("001 §1 第九條(六)")
        rule = cite.inner_text()
        item.get_by_role("button", name="批示同意").click()
        expect(page.get_by_role("status")).to_contain_text("转呈总经理批准")
        expect(page.locator("section.duty", has_text="待您批示的个人惩处")).to_have_count(0)
        sign_out(page)

        page = sign_in(context, base, args["gm"], args["password"])
        section = page.locator("section.duty", has_text="待批准的奖罚通知单")
        item = section.locator("li", has_text=args["number"])
        expect(item).to_be_visible()
        expect(section).to_contain_text("001 §1 第十二條(二)")
        shoot(page, args.get("shots"), "my-work-gm")
        item.get_by_role("button", name="批准通知单").click()
        expect(page.get_by_role("status")).to_contain_text("奖罚通知单已批准")
        page.goto(f"{base}/board?basis=received")
        expect(page.get_by_role("heading", name="SLA看板")).to_be_visible()
        expect(page.locator("#stats form")).to_be_visible()   # the month's figures, fetched
        shoot(page, args.get("shots"), "sla-board")
        sign_out(page)

        page = sign_in(context, base, args["employee"], args["password"])
        page.get_by_role("navigation").get_by_role("link", name="我的奖惩").click()
        rows = page.locator("tbody tr", has_text=args["number"])
        expect(rows.filter(has_text=f"¥{args['fine']:,}").first).to_be_visible()
        shoot(page, args.get("shots"), "ledger")
        deducted = page.locator(".card", has_text="已扣款").inner_text()
        page.get_by_role("navigation").get_by_role("link", name="收件箱").click()
        # The notice reaches the inbox when the booking's events have gone round.
        for _ in range(20):
            if page.locator("ul.items li", has_text="奖罚通知单").count():
                break
            page.wait_for_timeout(500)
            page.reload()
        first = page.locator("ul.items li", has_text="奖罚通知单").first
        expect(first.locator(".badge.unread")).to_be_visible()
        shoot(page, args.get("shots"), "inbox")
        first.get_by_role("link").click()
        expect(page.get_by_text("已读")).to_be_visible()
        page.goto(f"{base}/inbox")
        opened = page.locator("ul.items li", has_text="奖罚通知单").first
        expect(opened.locator(".badge.unread")).to_have_count(0)
        return {"deducted": deducted, "supervisor_rule": rule}


def first_paint(args: dict) -> dict:
    """First contentful paint of each page, in milliseconds, over repeated loads."""
    out: dict[str, list[float]] = {}
    with browser() as context:
        page = sign_in(context, args["base"], args["user"], args["password"])
        for path in args["paths"]:
            times = []
            for _ in range(int(args.get("repeats", 10))):
                page.goto(f"{args['base']}{path}", wait_until="load")
                # Chromium reports the paint a frame or two after "load".
                try:
                    paint = page.wait_for_function(
                        "() => (performance.getEntriesByName('first-contentful-paint')[0]"
                        " || {}).startTime || null", timeout=5000).json_value()
                except PlaywrightTimeout:
                    paint = None
                if paint is not None:
                    times.append(round(paint, 1))
            out[path] = times
    return out


SCENARIOS = {f.__name__: f for f in (file_complaint, masked_phone, remedy, leave, notice,
                                     first_paint)}


def main(argv: list[str]) -> int:
    name, args = argv[0], json.loads(argv[1])
    result = SCENARIOS[name](args)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
