"""Every word the simulator itself shows, in the menu's language: one table per language.

The console view (ivr/outputs/console.py), the end line and ``transcript.txt``
(ivr/outputs/artifacts.py) take their words from here and nowhere else; the menu's own
prompts and titles come from the menu. `words_for` picks the table by the menu's
``language``: an exact tag (``zh-CN``), else its primary language (``zh-TW`` → ``zh-CN``,
``ko`` → ``ko-KR``), else English. English is the fallback because a menu in a language
with no table is better served by words most engineers read than by Chinese.

Placeholders (``{key}``, ``{count}`` ...) are filled with ``str.format``; every table
has the same fields and the same placeholders in each (tests/test_catalogue.py). Imports
the engine's enums only: a ``--quiet`` call loads it without rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.engine.events import Outcome
from ivr.menu.model import GlobalAction


@dataclass(frozen=True, slots=True)
class Words:
    """The words of one language."""

    language: str
    # -- the banner: how the call is made, and what to press ---------------------------
    script_mode: str
    clips_mode: str
    replay_mode: str
    keypad_mode: str
    mic_mode: str
    typed_mode: str
    text_only: str
    spoken: str
    speed: str
    """Appended to the mode of a call whose timers run faster: ``{speed}``."""
    keypad_hint: str
    typed_hint: str
    mic_hint: str
    # -- the node panel ---------------------------------------------------------------
    next_step: str
    repeat_step: str
    previous_step: str
    # -- what happens -----------------------------------------------------------------
    key: str
    barge_in: str
    no_input: str
    no_match_key: str
    no_match_speech: str
    """A no-match with no key: the caller spoke and nothing valid was recognized."""
    heard_accepted: str
    heard_confirm: str
    heard_rejected: str
    transfer: str
    hangup_caller: str
    hangup_hotline: str
    call_end: str
    # -- the status line ---------------------------------------------------------------
    speaking: str
    waiting: str
    """The no-input timer: ``{seconds}`` left (live) or its length (plain lines)."""
    recognizing: str
    closing: str
    counts: str
    # -- the transcript ----------------------------------------------------------------
    hotline: str
    caller: str
    by_key: str
    by_speech: str
    t_key: str
    t_utterance: str
    t_barge_in: str
    t_no_input: str
    t_no_match: str
    t_transfer: str
    t_call_end: str
    # -- self-service nodes --------------------------------------------------------------
    collect_digits: str
    """The collect node's panel: ``{low}``-``{high}`` digits."""
    collect_end: str
    collect_restart: str
    digits: str
    """An entry taken: ``{text}`` (``******`` when sensitive)."""
    no_match_entry: str
    """An invalid entry: ``{text}``, ``{count}``."""
    request: str
    """``{operation}`` asked of the back office."""
    reply: str
    """Its ``{result}``."""
    working: str
    """The status line while the back office works."""
    t_digits: str
    t_no_match_entry: str
    t_request: str
    t_reply: str
    record_start: str
    """The console's line when a recording starts: ``{reason}`` (``record_reasons``)."""
    record_end: str
    """The console's line when it ends: ``{reason}``, ``{seconds}``."""
    t_record_start: str
    """The transcript's: ``{reason}``."""
    t_record: str
    """A record node's end: ``{reason}`` (``record_reasons``) and ``{seconds}``."""
    record_reasons: dict[str, str] = field(default_factory=dict)
    """How a recording starts or ends (``ivr.engine.events.RECORD_REASONS``, the call
    log's codes) in words."""
    decisions: dict[str, str] = field(default_factory=dict)
    """accept, confirm, reject (``ivr.engine.matching.Verdict``) as the transcript says them."""
    outcomes: dict[Outcome, str] = field(default_factory=dict)
    globals: dict[GlobalAction, str] = field(default_factory=dict)


ZH_CN = Words(
    language="zh-CN",
    script_mode="脚本模式（虚拟时钟）",
    clips_mode="录音模式（虚拟时钟）",
    replay_mode="整通录音回放（虚拟时钟）",
    keypad_mode="按键",
    mic_mode="语音与按键",
    typed_mode="打字说话",
    text_only="仅文字",
    spoken="语音播报",
    speed="{speed} 倍速",
    keypad_hint="按 0-9 * # 选择（无需回车），q 挂机；播报中按键即可打断",
    typed_hint="输入要说的话或 0-9 * #，回车发送；q 挂机",
    mic_hint="直接说话，或按 0-9 * #（无需回车）；q 挂机",
    next_step="下一步",
    repeat_step="重听本步",
    previous_step="上一步",
    key="☎ 按键 {key}",
    barge_in="（插话：提示音已停止）",
    no_input="… 未输入（第{count}次）",
    no_match_key="✗ 无效按键 {key}（第{count}次）",
    no_match_speech="✗ 语音未识别（第{count}次）",
    heard_accepted="→ {phrase}",
    heard_confirm="？ {phrase}（待确认）",
    heard_rejected="未识别",
    transfer="→ 转接人工客服",
    hangup_caller="☎ 来电者挂机",
    hangup_hotline="☎ 热线挂机",
    call_end="通话结束：{outcome}（在「{node}」）",
    speaking="🔊 播报中 · 按键可打断",
    waiting="⏳ 等待输入 · {seconds} 秒",
    recognizing="🎙 识别中…",
    closing="🔊 结束语",
    counts="未输入 {no_input}/{max_no_input} · 无效 {no_match}/{max_no_match}",
    hotline="热线",
    caller="来电",
    by_key="按键",
    by_speech="语音",
    t_key="[按键 {key}]",
    t_utterance="「{text}」（置信度 {confidence}，{decision}）",
    t_barge_in="（{by}插话：提示音停止）",
    t_no_input="（未输入，第{count}次）",
    t_no_match="（无效输入，第{count}次）",
    t_transfer="（转接人工客服）",
    t_call_end="（通话结束：{outcome}，在 {state}）",
    collect_digits="输入 {low}–{high} 位数字",
    collect_end="结束输入",
    collect_restart="清空重输",
    digits="✓ 输入 {text}",
    no_match_entry="✗ 输入无效 {text}（第{count}次）",
    request="⇄ 后台：{operation}",
    reply="⇄ 结果：{result}",
    working="⇄ 后台处理中",
    t_digits="（输入完成：{text}）",
    t_no_match_entry="（输入无效：{text}，第{count}次）",
    t_request="（后台：{operation}）",
    t_reply="（后台结果：{result}）",
    record_start="⏺ {reason}",
    record_end="⏹ 录音结束：{reason}（{seconds} 秒）",
    t_record_start="（{reason}）",
    t_record="（录音结束：{reason}，{seconds} 秒）",
    record_reasons={
        "start": "开始录音",
        "terminator": "按键结束",
        "silence": "说完后静音结束",
        "max-length": "达到最长时长",
        "no-input": "未听到留言",
        "hangup": "来电者挂断",
        "skipped": "不留言",
    },
    decisions={"accept": "接受", "confirm": "待确认", "reject": "未识别"},
    outcomes={
        Outcome.TRANSFERRED: "已转人工",
        Outcome.ABANDONED: "来电者挂断",
        Outcome.DISCONNECTED: "热线挂断",
        Outcome.CALLBACK: "已预约回电",
    },
    globals={
        GlobalAction.AGENT: "人工客服",
        GlobalAction.REPEAT: "重听",
        GlobalAction.BACK: "返回上一级",
        GlobalAction.MAIN: "主菜单",
        GlobalAction.HANGUP: "挂机",
    },
)

KO_KR = Words(
    language="ko-KR",
    script_mode="스크립트 모드 (가상 시계)",
    clips_mode="녹음 모드 (가상 시계)",
    replay_mode="통화 녹음 재생 (가상 시계)",
    keypad_mode="키패드",
    mic_mode="음성과 키패드",
    typed_mode="입력해서 말하기",
    text_only="텍스트만",
    spoken="음성 안내",
    speed="{speed}배속",
    keypad_hint="0-9 * # 을 누르세요 (Enter 필요 없음), q: 끊기; 안내 중에 누르면 멈춥니다",
    typed_hint="할 말이나 0-9 * # 을 입력하고 Enter; q: 끊기",
    mic_hint="말씀하시거나 0-9 * # 을 누르세요 (Enter 필요 없음); q: 끊기",
    next_step="다음 단계",
    repeat_step="이 단계 다시 듣기",
    previous_step="이전 단계",
    key="☎ 누른 키 {key}",
    barge_in="(끼어들기: 안내 멈춤)",
    no_input="… 입력 없음 ({count}번째)",
    no_match_key="✗ 잘못된 키 {key} ({count}번째)",
    no_match_speech="✗ 음성 인식 실패 ({count}번째)",
    heard_accepted="→ {phrase}",
    heard_confirm="? {phrase} (확인 필요)",
    heard_rejected="인식 실패",
    transfer="→ 상담원 연결",
    hangup_caller="☎ 고객이 끊음",
    hangup_hotline="☎ 안내 전화가 끊음",
    call_end="통화 종료: {outcome} (「{node}」에서)",
    speaking="🔊 안내 중 · 키를 누르면 멈춤",
    waiting="⏳ 입력 대기 · {seconds}초",
    recognizing="🎙 인식 중…",
    closing="🔊 마지막 안내",
    counts="입력 없음 {no_input}/{max_no_input} · 인식 실패 {no_match}/{max_no_match}",
    hotline="안내",
    caller="고객",
    by_key="키",
    by_speech="음성",
    t_key="[키 {key}]",
    t_utterance="「{text}」 (신뢰도 {confidence}, {decision})",
    t_barge_in="({by}로 끼어들기: 안내 멈춤)",
    t_no_input="(입력 없음, {count}번째)",
    t_no_match="(인식 실패, {count}번째)",
    t_transfer="(상담원 연결)",
    t_call_end="(통화 종료: {outcome}, {state}에서)",
    collect_digits="숫자 {low}–{high}자리 입력",
    collect_end="입력 끝",
    collect_restart="지우고 다시 입력",
    digits="✓ 입력 {text}",
    no_match_entry="✗ 잘못된 입력 {text} ({count}번째)",
    request="⇄ 백오피스: {operation}",
    reply="⇄ 결과: {result}",
    working="⇄ 백오피스 처리 중",
    t_digits="(입력 완료: {text})",
    t_no_match_entry="(잘못된 입력: {text}, {count}번째)",
    t_request="(백오피스: {operation})",
    t_reply="(백오피스 결과: {result})",
    record_start="⏺ {reason}",
    record_end="⏹ 녹음 끝: {reason} ({seconds}초)",
    t_record_start="({reason})",
    t_record="(녹음 끝: {reason}, {seconds}초)",
    record_reasons={
        "start": "녹음 시작",
        "terminator": "종료 키",
        "silence": "말씀 후 무음",
        "max-length": "최대 길이 도달",
        "no-input": "메시지 없음",
        "hangup": "고객이 끊음",
        "skipped": "메시지 남기지 않음",
    },
    decisions={"accept": "인식", "confirm": "확인 필요", "reject": "인식 실패"},
    outcomes={
        Outcome.TRANSFERRED: "상담원 연결됨",
        Outcome.ABANDONED: "고객이 끊음",
        Outcome.DISCONNECTED: "안내 전화가 끊음",
        Outcome.CALLBACK: "콜백 예약됨",
    },
    globals={
        GlobalAction.AGENT: "상담원",
        GlobalAction.REPEAT: "다시 듣기",
        GlobalAction.BACK: "이전 메뉴",
        GlobalAction.MAIN: "처음 메뉴",
        GlobalAction.HANGUP: "끊기",
    },
)

EN = Words(
    language="en",
    script_mode="key script (virtual clock)",
    clips_mode="recordings (virtual clock)",
    replay_mode="whole-call recording (virtual clock)",
    keypad_mode="keypad",
    mic_mode="voice and keypad",
    typed_mode="typed speech",
    text_only="text only",
    spoken="spoken prompts",
    speed="{speed}× speed",
    keypad_hint="press 0-9 * # (no Enter needed), q hangs up; a key stops a prompt",
    typed_hint="type what you would say, or 0-9 * #, then Enter; q hangs up",
    mic_hint="speak, or press 0-9 * # (no Enter needed); q hangs up",
    next_step="next step",
    repeat_step="repeat this step",
    previous_step="previous step",
    key="☎ key {key}",
    barge_in="(barge-in: prompt stopped)",
    no_input="… no input (#{count})",
    no_match_key="✗ invalid key {key} (#{count})",
    no_match_speech="✗ speech not recognized (#{count})",
    heard_accepted="→ {phrase}",
    heard_confirm="? {phrase} (to confirm)",
    heard_rejected="not recognized",
    transfer="→ transfer to an agent",
    hangup_caller="☎ the caller hung up",
    hangup_hotline="☎ the hotline hung up",
    call_end="call ended: {outcome} (at “{node}”)",
    speaking="🔊 speaking · a key stops it",
    waiting="⏳ waiting for input · {seconds} s",
    recognizing="🎙 recognizing…",
    closing="🔊 closing words",
    counts="no input {no_input}/{max_no_input} · no match {no_match}/{max_no_match}",
    hotline="hotline",
    caller="caller",
    by_key="key",
    by_speech="speech",
    t_key="[key {key}]",
    t_utterance="“{text}” (confidence {confidence}, {decision})",
    t_barge_in="(barge-in by {by}: prompt stopped)",
    t_no_input="(no input, {count})",
    t_no_match="(no match, {count})",
    t_transfer="(transferred to an agent)",
    t_call_end="(call ended: {outcome} in {state})",
    collect_digits="enter {low}–{high} digits",
    collect_end="end of entry",
    collect_restart="clear and start again",
    digits="✓ entered {text}",
    no_match_entry="✗ invalid entry {text} (#{count})",
    request="⇄ back office: {operation}",
    reply="⇄ result: {result}",
    working="⇄ back office working",
    t_digits="(entry: {text})",
    t_no_match_entry="(invalid entry: {text}, #{count})",
    t_request="(back office: {operation})",
    t_reply="(back office result: {result})",
    record_start="⏺ {reason}",
    record_end="⏹ recording over: {reason} ({seconds} s)",
    t_record_start="({reason})",
    t_record="(recording over: {reason}, {seconds} s)",
    record_reasons={
        "start": "recording starts",
        "terminator": "end key",
        "silence": "silence after speech",
        "max-length": "maximum length",
        "no-input": "nothing said",
        "hangup": "the caller hung up",
        "skipped": "no message left",
    },
    decisions={"accept": "accept", "confirm": "to confirm", "reject": "reject"},
    outcomes={
        Outcome.TRANSFERRED: "transferred",
        Outcome.ABANDONED: "abandoned",
        Outcome.DISCONNECTED: "disconnected",
        Outcome.CALLBACK: "callback booked",
    },
    globals={
        GlobalAction.AGENT: "agent",
        GlobalAction.REPEAT: "repeat",
        GlobalAction.BACK: "back",
        GlobalAction.MAIN: "main menu",
        GlobalAction.HANGUP: "hang up",
    },
)

TABLES = {words.language: words for words in (ZH_CN, KO_KR, EN)}
FALLBACK = EN


def words_for(language: str | None) -> Words:
    """The table for a menu's language: the exact tag, else its primary language, else
    English (`FALLBACK`)."""
    if not language:
        return FALLBACK
    tag = language.replace("_", "-")
    for name, words in TABLES.items():
        if name.lower() == tag.lower():
            return words
    primary = tag.split("-")[0].lower()
    for name, words in TABLES.items():
        if name.split("-")[0].lower() == primary:
            return words
    return FALLBACK


def outcome(words: Words, value: Outcome | str | None) -> str:
    """An outcome in words; one with no entry (none should) as it is logged."""
    if value is None:
        return "?"
    try:
        return words.outcomes[Outcome(value)]
    except (ValueError, KeyError):
        return str(value)


def record_reason(words: Words, reason: str | None) -> str:
    """How a recording started or ended, in words; a code with no entry (none should,
    every one of ``RECORD_REASONS`` has one) as it is logged."""
    return words.record_reasons.get(reason or "", reason or "?")
