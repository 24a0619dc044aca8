"""CEB receipt status codes (``returnStatus``), their names and the official-style Chinese receipt text.

A receipt's ``returnInfo`` is written the way customs writes it: ``[Code:nnnn;Desc:中文]`` (e.g.
``[Code:2600;Desc:放行]``, ``[Code:1313;Desc:订购人购买超过年度限额...]``) or the e-port's plain words
(``暂存``, ``新增申报成功``), then, for refusals, the field-level details. The Engine's English reason
stays beside it in our API's JSON form (``returnInfoEn``).
"""

from __future__ import annotations

# receipt returnStatus codes (CEB622 uses all; 312/412/512 use 120 and 100; 1/2 are the e-port's)
DRAFT, DECLARING, SENT, SEND_FAILED = 1, 2, 3, 4
ENTERED, REJECTED, MANUAL_REVIEW, DECIDED, INSPECTION = 120, 100, 300, 399, 500
DETAINED_CLEARANCE, DETAINED_ANTI_SMUGGLING, DETAINED_LEGAL, DETAINED_OTHER = 501, 502, 503, 599
RETURNED, RELEASED, CLOSED, NOT_PROCESSED = 700, 800, 899, -1
STATUS_NAMES = {
    1: "stored as draft", 2: "declared", 3: "sent to customs", 4: "sending to customs failed",
    120: "entered customs", 100: "rejected", 300: "manual review", 399: "decided", 500: "inspection",
    501: "detained, passed to clearance", 502: "detained, passed to anti-smuggling",
    503: "detained, passed to legal", 599: "other detention", 700: "returned", 800: "released",
    899: "closed", -1: "could not be processed",
}
#: the specification's Chinese name of each status (操作结果)
STATUS_NAMES_ZH = {
    1: "电子口岸已暂存", 2: "电子口岸申报中", 3: "发送海关成功", 4: "发送海关失败", 100: "海关退单",
    120: "海关入库", 300: "人工审核", 399: "海关审结", 500: "查验", 501: "扣留移送通关", 502: "扣留移送缉私",
    503: "扣留移送法规", 599: "其它扣留", 700: "退运", 800: "放行", 899: "结关", -1: "处理异常",
}

RETURN_INFO_MAX = 1000  # returnInfo: xs:string, 1 to 1000 characters (both editions)

#: returnInfo of each status whose text does not depend on the reason (the e-port's words, customs' codes)
STATUS_TEXT: dict[int, str] = {
    DRAFT: "暂存",
    DECLARING: "新增申报成功",
    SENT: "发送海关成功",
    SEND_FAILED: "发送海关失败",
    ENTERED: "[Code:1800;Desc:逻辑校验通过]",
    MANUAL_REVIEW: "[Code:2100;Desc:人工审核]",
    DECIDED: "[Code:2400;Desc:海关审结]",
    INSPECTION: "[Code:2500;Desc:查验]",
    DETAINED_CLEARANCE: "[Code:2501;Desc:扣留移送通关]",
    DETAINED_ANTI_SMUGGLING: "[Code:2502;Desc:扣留移送缉私]",
    DETAINED_LEGAL: "[Code:2503;Desc:扣留移送法规]",
    DETAINED_OTHER: "[Code:2599;Desc:其它扣留]",
    RETURNED: "[Code:2700;Desc:退运]",
    RELEASED: "[Code:2600;Desc:放行]",
    CLOSED: "[Code:2899;Desc:结关]",
}

#: refusal reasons: (phrase of the Engine's English reason, code text); the first phrase found wins
REASON_CODES: tuple[tuple[str, str], ...] = (
    ("duplicate", "[Code:1801;Desc:重复申报，已入库，不再处理]"),
    ("annual CBEC quota", "[Code:1313;Desc:订购人购买超过年度限额,超过个人年度购买额度]"),
    ("positive list", "[Code:1330;Desc:商品不在跨境电子商务零售进口商品清单内]"),
    ("signature", "[Code:1340;Desc:电子签名验证失败]"),
    ("certificate", "[Code:1340;Desc:电子签名验证失败]"),
    ("not registered for enterprise", "[Code:1350;Desc:申报企业与备案信息不符]"),
    ("already decided", "[Code:1360;Desc:单证已审结，不允许修改]"),
    ("modification refused", "[Code:1360;Desc:单证已审结，不允许修改]"),
    ("incomplete", "[Code:1322;Desc:订单、支付单、运单、清单信息不全或不一致]"),
    ("does not match", "[Code:1322;Desc:订单、支付单、运单、清单信息不全或不一致]"),
    ("mismatch", "[Code:1322;Desc:订单、支付单、运单、清单信息不全或不一致]"),
    ("could not be processed", "[Code:1399;Desc:处理异常]"),
    ("ceb:", "[Code:1301;Desc:报文校验不通过]"),
    (": ", "[Code:1301;Desc:报文校验不通过]"),
)
REFUSED_TEXT = "[Code:1300;Desc:海关退单]"
FAILED_TEXT = "[Code:-1;Desc:处理异常]"

_TEXT_CACHE: dict[tuple[int, str], str] = {}


def _xml_safe(s: str) -> str:
    """``s`` without characters XML 1.0 cannot carry (controls, lone surrogates, U+FFFE/U+FFFF)."""
    return "".join(c if (c >= " " and c not in "\ufffe\uffff" and not "\ud800" <= c <= "\udfff")
                   or c in "\t\n\r" else "\ufffd" for c in s)


def _return_info(status: int, info: str) -> str:
    if status == REJECTED:
        head = next((text for phrase, text in REASON_CODES if phrase in info), REFUSED_TEXT)
    elif status < 0:
        head = FAILED_TEXT
    elif status == ENTERED and "duplicate" in info:
        head = REASON_CODES[0][1]
    else:
        fixed = STATUS_TEXT.get(status) or STATUS_NAMES_ZH.get(status)
        if fixed is not None:
            return fixed
        return (_xml_safe(info) or str(status))[:RETURN_INFO_MAX]  # a status the specification does not name
    text = head + _xml_safe(info) if info else head
    return text[:RETURN_INFO_MAX]


def return_info(status: int, info: str) -> str:
    """The receipt's ``returnInfo`` in the official style (Chinese with codes; refusals add the Engine's field
    details), 1 to 1,000 characters (cut at a character: the text is escaped after, never cut inside an escape);
    memoised."""
    key = (status, info)
    s = _TEXT_CACHE.get(key)
    if s is None:
        s = _return_info(status, info) if type(info) is str else _return_info(status, str(info))
        if len(_TEXT_CACHE) >= 4096:
            _TEXT_CACHE.clear()
        _TEXT_CACHE[key] = s
    return s
