"""The wallet hotline itself: the fixed key tree and every procedure read step by step."""

from __future__ import annotations

import pytest

from ivr.drivers.testing import run_script
from ivr.engine.events import EventType, Outcome
from ivr.menu.model import Menu, NodeKind

TREE = {
    "1": ("account", "账户问题"),
    "11": ("registration", "账户注册"),
    "12": ("password_recovery", "找回密码"),
    "13": ("real_name", "实名认证"),
    "2": ("transactions", "交易咨询"),
    "21": ("transaction_failed", "交易失败"),
    "22": ("refund", "退款"),
    "23": ("records", "消费记录"),
    "3": ("tech_support", "技术支持"),
    "31": ("download_install", "下载安装"),
    "32": ("app_update", "更新问题"),
    "4": ("usage", "使用指南"),
    "41": ("transfer", "转账"),
    "42": ("payment", "付款"),
    "43": ("e_invoice", "电子发票"),
    "5": ("complaints", "投诉与建议"),
    "51": ("feedback", "如何反馈不满意的服务"),
    "52": ("contact_channels", "其他联系方式"),
    "53": ("caller_tips", "联系客服的技巧"),
}
PROCEDURES = {
    "12": "password_recovery",
    "13": "real_name",
    "21": "transaction_failed",
    "43": "e_invoice",
    "51": "feedback",
}


@pytest.mark.parametrize(("keys", "expected"), TREE.items())
def test_keys_reach_the_fixed_tree(wallet: Menu, keys: str, expected: tuple[str, str]) -> None:
    node_id, title = expected
    rec = run_script(wallet, keys)
    entered = rec.of_type(EventType.STATE)
    assert entered[len(keys) - 1].state == node_id
    assert entered[len(keys) - 1].text == title


def test_greeting_has_the_caller_tips(wallet: Menu) -> None:
    assert "账户信息" in wallet.greeting and "交易记录" in wallet.greeting
    assert "核心" in wallet.greeting


def test_every_leaf_says_something_useful(wallet: Menu) -> None:
    for node in wallet.nodes.values():
        if node.kind is NodeKind.ANSWER:
            assert len(node.answer) >= 30, node.id
        if node.kind is NodeKind.PROCEDURE:
            assert len(node.steps) >= 3 and node.closing, node.id


@pytest.mark.parametrize(("keys", "node_id"), PROCEDURES.items())
def test_each_procedure_is_read_step_by_step_then_back_to_the_parent(
    wallet: Menu, keys: str, node_id: str
) -> None:
    node = wallet.nodes[node_id]
    steps = len(node.steps)
    rec = run_script(wallet, keys + "1" * steps)
    expected = [wallet.step_text(node, i) for i in range(steps)]
    assert [p for p in rec.prompts if p in expected] == expected
    parent = wallet.nodes[node.parent or ""]
    assert rec.prompts[-2:] == [node.closing, parent.prompt]
    assert rec.states[-1] == parent.id
    assert rec.outcome is Outcome.ABANDONED


def test_transaction_failed_names_the_four_causes_in_order(wallet: Menu) -> None:
    node = wallet.nodes["transaction_failed"]
    causes = ["余额不足", "网络不稳定", "支付限制", "安全审核"]
    spoken = [wallet.step_text(node, i) for i in range(len(node.steps))]
    assert [text.split("。")[0] for text in spoken] == [
        f"第{n}种原因：{cause}" for n, cause in zip("一二三四", causes, strict=True)
    ]


def test_contact_channels_lists_the_three_channels(wallet: Menu) -> None:
    answer = wallet.nodes["contact_channels"].answer
    for channel in ("APP内客服", "官方网站", "社交媒体"):
        assert channel in answer


def test_every_submenu_announces_back_and_agent(wallet: Menu) -> None:
    for node in wallet.nodes.values():
        if node.kind is NodeKind.MENU and node.id != wallet.start:
            assert "返回上一级请按井号键" in node.prompt, node.id
        if node.kind is NodeKind.MENU:
            assert "人工服务请按0" in node.prompt, node.id
