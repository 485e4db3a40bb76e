"""The wallet hotline says what the wallet's service guide says, in its order, and no more.

The guide (``menus/wallet-service-guide.zh-CN.txt``, a copy of the shared knowledge base) is
read here as data: each procedure's steps are the guide's list under the procedure's source
heading, and every fact a caller hears must be one the guide gives.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from ivr.drivers.testing import run_script
from ivr.engine.events import EventType
from ivr.menu.check import Guide
from ivr.menu.model import Menu, NodeKind

from .conftest import ROOT

GUIDE = ROOT / "menus" / "wallet-service-guide.zh-CN.txt"
SHARED_GUIDE = ROOT.parent / "shared" / "guide" / "wallet-service-guide.zh-CN.txt"


def words(text: str) -> list[str]:
    """Facts and claims written as space-separated words: tables that read as text."""
    return text.split()


# The guide's list items name their subject before a colon; two items lost that colon in
# the guide ("网络如果在交易过程中…", "提前整理在联系客服之前…"). Their subjects, as the
# guide's own headings and the issue name them:
MISSING_COLON = {"网络如果": "网络不稳定", "提前整理在": "提前整理"}

# For each procedure, the facts of the guide a caller must hear, in the guide's order:
# every alternative it lists and every condition, then its closing advice.
KEY_FACTS = {
    "password_recovery": words(
        "进入登录页面 APP 官网 登录界面 选择找回密码 忘记密码 "
        "找回密码 链接 验证身份 注册手机号 邮箱 其他安全信息 重置密码 "
        "验证成功后 联系方式 链接 验证码 提示 较强 简单易记 账户安全 "
        "联系客服"
    ),
    "transaction_failed": words(
        "余额不足 余额低于 无法完成 网络不稳定 数据传输失败 中断 "
        "支付限制 商户或平台 支付方式 限制 安全审核 高风险交易 自动审核 "
        "登录账户 支付记录 余额与交易信息 联系客服 失败原因"
    ),
    "e_invoice": words(
        "开启电子发票开具功能 设置 开启 确认商户支持 交易之前 "
        "商户是否支持电子发票 填写信息 完成支付后 发票抬头 税号 下载发票 "
        "管理页面 查看 下载 没有收到发票 信息填写错误 商户 客服"
    ),
    "real_name": words(
        "进入实名认证页面 设置 实名认证 上传身份证明 身份证的正反面照片 "
        "填写个人信息 姓名 身份证号码 联系方式 等待审核 审核 通知 "
        "账户权限 金融服务 联系客服"
    ),
    "feedback": words(
        "联系客服 热线 APP内的在线客服 详细描述 不满之处 发送邮件 "
        "官方邮箱 账户信息 交易记录 社交媒体反馈 官方账号 准确 完整 "
        "改进"
    ),
}

# Claims the guide does not make, each once heard on this hotline or typical of hotlines:
# none may appear anywhere the caller can hear.
NOT_IN_GUIDE = words(
    "人脸识别 短信验证码 工单 工作日 小时内 分钟内 几分钟 三天 "
    "账户异常 冻结 限额 钱包等级 充值 自动退回 原路退回 到账 截图 "
    "垃圾邮件 无法修改 不能与原密码相同 生日 连续数字 应用商店 "
    "系统版本 存储空间 重启手机 卸载 关于 检查更新 二维码 付款码 "
    "NFC 碰一碰 钱包编号 撤回 诈骗 微博 微信 公众号 投诉建议 "
    "客服与反馈 筛选 导出 我的发票 绝不会 索要"
)

# Amounts, deadlines and durations are promises: the guide gives none.
PROMISE = re.compile(
    r"\d+\s*(?:元|天|小时|分钟|秒)|[一二三四五六七八九十两几]+(?:个)?(?:工作日|天|小时|分钟)"
)


@pytest.fixture(scope="module")
def guide() -> Guide:
    return Guide.read(GUIDE)


def guide_items(guide: Guide, source: str) -> list[str]:
    """The list items right under a source heading of the guide."""
    at = guide.find(source)
    assert at is not None, source
    text = GUIDE.read_text(encoding="utf-8").splitlines()
    items = []
    for line in text[at + 1 :]:
        if not line.startswith("- "):
            if items:
                break
            continue
        items.append(unicodedata.normalize("NFKC", line[2:]))
    return items


def subject(item: str) -> str:
    for start, name in MISSING_COLON.items():
        if item.startswith(start):
            return name
    return item.split(":", 1)[0]


def spoken(menu: Menu, node_id: str) -> str:
    node = menu.nodes[node_id]
    return "".join([node.intro, *node.steps, node.closing, node.answer])


def in_order(text: str, facts: list[str]) -> list[str]:
    """The facts not found in order: each must come after the one before it."""
    missing, at = [], 0
    for fact in facts:
        found = text.find(fact, at)
        if found < 0:
            missing.append(fact)
        else:
            at = found + len(fact)
    return missing


def test_the_shipped_guide_is_the_shared_one() -> None:
    if SHARED_GUIDE.exists():  # a clone beside shared/, as in CI
        assert GUIDE.read_bytes() == SHARED_GUIDE.read_bytes()
    assert GUIDE.stat().st_size > 4000


def test_every_answer_and_procedure_names_a_source_the_guide_has(
    wallet: Menu, guide: Guide
) -> None:
    assert wallet.guide == GUIDE
    for node in wallet.nodes.values():
        if node.kind in (NodeKind.ANSWER, NodeKind.PROCEDURE):
            assert node.sources, node.id
        for source in node.sources:
            assert guide.missing(source) is None, (node.id, source)


PROCEDURES = ["password_recovery", "transaction_failed", "e_invoice", "real_name", "feedback"]


@pytest.mark.parametrize("node_id", PROCEDURES)
def test_each_procedure_is_the_guides_list_in_its_order(
    wallet: Menu, guide: Guide, node_id: str
) -> None:
    node = wallet.nodes[node_id]
    assert node.kind is NodeKind.PROCEDURE
    items = guide_items(guide, node.sources[0])
    assert [step.split("。", 1)[0] for step in node.steps] == [subject(i) for i in items]


@pytest.mark.parametrize("node_id", PROCEDURES)
def test_each_procedure_carries_the_guides_facts_in_order(wallet: Menu, node_id: str) -> None:
    assert in_order(spoken(wallet, node_id), KEY_FACTS[node_id]) == []


def test_the_five_service_areas_are_the_main_menu(wallet: Menu, guide: Guide) -> None:
    areas = [subject(i) for i in guide_items(guide, "一、人民数字钱包客服的基本功能")]
    assert areas == ["账户问题解决", "交易咨询", "技术支持", "使用指南", "投诉与建议"]
    titles = [wallet.nodes[t].title for t in wallet.nodes[wallet.start].options.values()]
    assert titles == ["账户问题", "交易咨询", "技术支持", "使用指南", "投诉与建议"]
    # and each area's menu offers what the guide lists in it
    named = {
        "account": ["账户注册", "找回密码", "实名认证"],
        "transactions": ["交易失败", "退款", "消费记录"],
        "tech_support": ["下载安装", "更新"],
        "usage": ["转账", "付款"],
    }
    for menu_id, topics in named.items():
        prompt = wallet.nodes[menu_id].prompt
        assert in_order(prompt, topics) == [], menu_id


def test_the_three_contact_channels_as_the_guide_describes_them(wallet: Menu) -> None:
    answer = wallet.nodes["contact_channels"].answer
    facts = words(
        "APP内客服 “客服”选项 聊天窗口 客服热线 官方网站 服务器维护 "
        "在线客服 服务热线 社交媒体 官方账户 私信"
    )
    assert in_order(answer, facts) == []


def test_the_three_caller_tips_where_a_caller_wants_them(wallet: Menu) -> None:
    assert in_order(wallet.greeting, ["核心", "账户信息", "交易记录"]) == []
    assert in_order(wallet.messages.transfer, ["转接人工客服", "大量请求", "耐心"]) == []
    tips = wallet.nodes["caller_tips"].answer
    facts = [
        "提前整理",
        "核心",
        "提供必要信息",
        "账户信息",
        "交易记录",
        "加快处理速度",
        "耐心沟通",
        "大量请求",
        "最好的解决方案",
    ]
    assert in_order(tips, facts) == []
    rec = run_script(wallet, "53")
    assert rec.of_type(EventType.STATE)[1].state == "caller_tips"


LEAVES_THE_GUIDE_ONLY_NAMES = words(
    "registration refund records download_install app_update transfer payment"
)


@pytest.mark.parametrize("node_id", LEAVES_THE_GUIDE_ONLY_NAMES)
def test_a_leaf_the_guide_only_names_says_which_channel_resolves_it(
    wallet: Menu, node_id: str
) -> None:
    answer = wallet.nodes[node_id].answer
    assert "按0转接人工客服" in answer, node_id
    assert len(answer) <= 120, "a short answer: the guide says no more"


def test_nothing_the_caller_hears_goes_beyond_the_guide(wallet: Menu) -> None:
    heard = wallet.prompt_texts()
    said = [claim for claim in NOT_IN_GUIDE for text in heard if claim in text]
    assert said == []
    promises = [m.group() for text in heard for m in PROMISE.finditer(text)]
    assert promises == []


def every_text_heard(menu: Menu) -> list[str]:
    """Every text a caller can hear, templates as written (``prompt_texts`` leaves out the
    texts with a variable: known only in a call), with what a database can fill in them:
    the demo's rejection reasons, refund and invoice statuses, and the guide's causes."""
    from ivr.backoffice.demo import REJECTIONS
    from ivr.backoffice.repository import INVOICE_WORDS, REFUND_WORDS
    from ivr.menu.templates import TEMPLATE_FIELDS

    texts = list(menu.prompt_texts())
    for node in menu.nodes.values():
        texts += [getattr(node, name, "") for name in TEMPLATE_FIELDS if hasattr(node, name)]
        if node.action is not None:
            texts.append(node.action.hold_prompt)
    return [*texts, *REJECTIONS, *REFUND_WORDS.values(), *INVOICE_WORDS.values()]


def test_nothing_a_self_service_reading_says_goes_beyond_the_guide(wallet: Menu) -> None:
    heard = every_text_heard(wallet)
    assert any("{amount:money}" in text for text in heard)  # the readings are in it
    said = [(claim, text) for claim in NOT_IN_GUIDE for text in heard if claim in text]
    assert said == []
    assert [m.group() for text in heard for m in PROMISE.finditer(text)] == []


# Each cause the database gives, the node that reads it, and the guide's words for it (its
# item in 交易失败的原因是什么？), then the guide's advice for a failed transaction.
CAUSE_NODES = {
    "余额不足": ("cause_balance", words("余额低于 消费 金额 无法完成")),
    "网络不稳定": ("cause_network", words("网络不稳定 数据传输失败 交易中断")),
    "支付限制": ("cause_restriction", words("商户或平台 支付方式 限制 无法使用数字钱包")),
    "安全审核": ("cause_security", words("安全考虑 高风险交易 自动审核 交易失败")),
}
ADVICE = words("登录账户 查看支付记录 确认余额与交易信息")


def test_each_cause_is_read_with_the_guides_words_for_it(wallet: Menu, guide: Guide) -> None:
    from ivr.engine.backoffice import FAILURE_CAUSES

    assert tuple(CAUSE_NODES) == FAILURE_CAUSES
    items = guide_items(guide, "四、常见问题及解答 › 交易失败的原因是什么？")
    assert [subject(item) for item in items] == list(FAILURE_CAUSES)
    switch = wallet.nodes["failure_cause"].switch
    assert switch is not None
    for (cause, (node_id, facts)), item in zip(CAUSE_NODES.items(), items, strict=True):
        assert switch.cases[cause] == node_id
        prompt = wallet.nodes[node_id].prompt
        assert f"原因是{cause}。" in prompt
        assert all(
            fact in unicodedata.normalize("NFKC", item) or fact in "消费金额" for fact in facts
        )
        assert in_order(prompt, facts) == [], node_id
        if cause == "安全审核":  # the guide's next step when looking does not solve it
            assert in_order(prompt, ["如果解决不了", "联系人工客服", "了解"]) == []
        else:
            assert in_order(prompt, ADVICE) == [], node_id
        assert wallet.nodes[node_id].options["1"] == "transaction_failed"  # the whole list
    # a cause the guide does not list is not explained: the agent can say it
    other = wallet.nodes["cause_other"].prompt
    assert "原因是" not in other and "联系人工客服" in other


def test_the_other_readings_say_the_guides_words_where_it_has_some(wallet: Menu) -> None:
    nodes = wallet.nodes
    assert "审核成功后，您会收到相应的通知" in nodes["name_under_review"].answer
    assert "账户权限会有所提升" in nodes["name_passed"].answer
    for node_id in ("name_not_started", "name_rejected"):
        assert nodes[node_id].options == {"1": "real_name"}  # the guide's procedure
    assert "{reason}" in nodes["name_rejected"].prompt
    supported = nodes["invoice_supported"]
    assert in_order(supported.prompt, words("没有收到发票 信息填写错误 联系商户 客服")) == []
    assert supported.options == {"1": "e_invoice"}
    assert "确认商户是否支持电子发票" in nodes["invoice_not_supported"].answer
    assert "{ticket_number:digits}" in nodes["ticket_filed"].answer
    assert "反馈编号" in nodes["ticket_filed"].answer  # not a 工单: the guide has none


def test_nothing_personal_is_read_before_the_pin_is_verified(wallet: Menu) -> None:
    """Every node that reads a lookup is reached only through ``verify``'s verified result:
    the lookups hang below ``my_account``, which only ``verify`` leads to."""
    lookups = {"latest_failed_transaction", "latest_refund", "recent_transactions"}
    lookups |= {"real_name_status", "e_invoice_status"}
    into = {target: node.id for node in wallet.nodes.values() for target in node.targets()}
    leading = [n.id for n in wallet.nodes.values() if "my_account" in n.targets()]
    assert leading == ["verify"]
    for node in wallet.nodes.values():
        if node.action is not None and node.action.operation in lookups:
            assert into[node.id] == "my_account", node.id


def test_the_checker_rejects_a_source_the_guide_lacks(tmp_path: Path) -> None:
    from ivr.menu.model import load
    from ivr.menu.problems import MenuInvalid

    text = (ROOT / "menus" / "wallet.zh-CN.yaml").read_text(encoding="utf-8")
    (tmp_path / GUIDE.name).write_bytes(GUIDE.read_bytes())
    broken = tmp_path / "wallet.zh-CN.yaml"
    broken.write_text(
        text.replace("如何找回密码？", "如何修改密码？").replace(
            "    source: 三、使用数字钱包客服的技巧\n", ""
        ),
        encoding="utf-8",
    )
    with pytest.raises(MenuInvalid) as raised:
        load(broken)
    messages = [p.message for p in raised.value.problems]
    assert messages == [
        "source '四、常见问题及解答 › 如何修改密码？': the guide has no '如何修改密码?' there",
        "'caller_tips' names no source in the guide",
    ]
