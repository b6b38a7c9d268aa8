"""Chinese for every refusal the API gives: the people at the pages read Chinese, API clients and logs match English.

Error bodies keep their English ``detail`` and gain ``detail_zh``, one Chinese message per problem. Our own
messages are matched by pattern (``OWN``); pydantic's by their error type (``PYDANTIC``), or, where they reach us
as text (zone files are validated outside FastAPI), by pydantic's own message templates. A message reads
"where: what" ("zone 'a': grace_s: ..."): the location and field are translated apart from the message itself.
``translate`` returns None for a message with no Chinese; tests/test_messages.py finds every message the code can
raise and asserts none does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

try:  # pydantic-core's catalogue of its errors and their English templates (not re-exported at the top level)
    from pydantic_core._pydantic_core import list_all_errors
except ImportError:  # pragma: no cover - a pydantic-core without it: its messages in text form get no Chinese
    def list_all_errors() -> list[dict[str, Any]]:
        return []

FALLBACK = "服务器拒绝了请求（原因见英文说明）"

# Fields of request bodies and zone files, as the forms name them.
FIELDS = {
    "body": "请求内容", "file": "文件", "value": "取值",
    "code": "编码", "name": "名称", "address": "地址", "clear_limit_s": "清理时限（秒）",
    "id": "编号", "site_id": "所属小区", "source_url": "视频源地址", "fps": "采样频率", "imgsz": "推理尺寸",
    "timezone": "时区", "frame_width": "画面宽度", "frame_height": "画面高度", "enabled": "启用",
    "username": "用户名", "password": "密码", "role": "角色", "active": "启用/生效时段",
    "decision": "审核结论", "plate_text": "车牌号", "reason": "驳回理由",
    "camera_id": "摄像头编号", "camera_name": "摄像头名称", "frame_size": "画面尺寸", "units": "坐标单位",
    "zones": "区域", "kind": "区域类型", "polygon": "多边形", "grace_s": "允许停留（秒）", "leave_s": "离开判定（秒）",
    "classes": "检测对象", "min_overlap": "最小重叠", "ground": "地面标定", "corners": "角点", "points": "参照点",
    "width_m": "宽度（米）", "length_m": "长度（米）", "ground_m": "地面坐标（米）",
    "min_clear_width_m": "最小净宽（米）", "depth_m": "纵深（米）",
    "since": "起始", "until": "截止", "week": "周次", "days": "天数", "hours": "小时数", "min_count": "至少次数",
    "window_days": "统计天数", "limit": "条数", "offset": "跳过条数", "format": "格式", "status": "状态",
    "site": "小区", "camera": "摄像头",
}
ROLES = {"operator": "运维人员", "property": "物业", "police": "交警"}
GEOMETRY = {"Ring Self-intersection": "环自相交", "Self-intersection": "自相交", "Too few points": "点太少",
            "Invalid Coordinate": "坐标无效", "Hole lies outside shell": "内环在外环之外"}
GEOMETRY_FAULTS = re.compile("|".join(map(re.escape, GEOMETRY)))
WHAT = {"cameras": "摄像头", "users": "用户", "alerts": "告警"}
ALERT_STATUSES = {"open": "待处理", "acknowledged": "已确认收到", "cleared": "已清理", "left": "车辆已自行离开"}
WHO = {"this account": "此账号", "this address": "此地址"}

# Pydantic's error types that request bodies and zone files can raise, with its context keys as placeholders.
PYDANTIC = {
    "missing": "必须填写",
    "extra_forbidden": "不认识的字段（多余的输入）",
    "model_type": "必须是一个对象（JSON 对象）",
    "model_attributes_type": "必须是一个对象（JSON 对象）",
    "dict_type": "必须是一个对象（JSON 对象）",
    "list_type": "必须是一个列表",
    "tuple_type": "必须是一个列表（坐标对）",
    "string_type": "必须是文字",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不对：只能用字母、数字和 - _ . 且以字母或数字开头",
    "int_type": "必须是整数",
    "int_parsing": "必须是整数",
    "int_parsing_size": "整数太大",
    "int_from_float": "必须是整数（不能有小数）",
    "float_type": "必须是数字",
    "float_parsing": "必须是数字",
    "finite_number": "必须是有限的数字",
    "bool_type": "必须是“是”或“否”（true/false）",
    "bool_parsing": "必须是“是”或“否”（true/false）",
    "greater_than": "必须大于 {gt}",
    "greater_than_equal": "不能小于 {ge}",
    "less_than": "必须小于 {lt}",
    "less_than_equal": "不能大于 {le}",
    "too_short": "至少 {min_length} 项，现有 {actual_length} 项",
    "too_long": "最多 {max_length} 项，现有 {actual_length} 项",
    "literal_error": "只能是 {expected}",
    "json_invalid": "请求内容不是有效的 JSON",
    "json_type": "请求内容不是有效的 JSON",
    "value_error": "{error}",
    "assertion_error": "{error}",
}

# Our own messages: (English pattern, Chinese). Named groups are put in as they are, except ``field`` (a field
# name, translated) and ``role`` (a role, translated) and ``what`` (what a site still has).
OWN: list[tuple[str, str]] = [
    # request bodies (service.api.schemas, deps, security)
    (r"must not contain NUL characters", "不能包含空字符（NUL）"),
    (r"must not contain control characters", "不能包含控制字符"),
    (r"(?P<fields>.+) cannot be null", "{fields} 不能为空"),
    (r"unknown time zone (?P<tz>.+) \(use an IANA name such as Asia/Shanghai\)",
     "未知时区 {tz}（请用 IANA 名称，如 Asia/Shanghai）"),
    (r"a plate is 5-12 Chinese characters, letters and digits, e\.g\. 粤B12345",
     "车牌号应为 5–12 位汉字、字母和数字，例如 粤B12345"),
    (r"plate_text is required to confirm a violation", "确认违法必须填写车牌号"),
    (r"required to confirm a violation", "确认违法时必须填写"),
    (r"reason is required to reject a violation", "驳回必须填写理由"),
    (r"required to reject a violation", "驳回时必须填写"),
    (r"(?P<name>.+) is not a JSON number", "{name} 不是 JSON 数字"),
    (r"(?P<text>.+) is beyond the range of a number", "{text} 超出数字范围"),
    (r"password must be at least (?P<n>\S+) characters", "密码至少 {n} 个字符"),
    (r"password is too common or too simple", "密码太常见或太简单，请换一个"),
    (r"not logged in", "未登录"),
    (r"invalid or expired credentials", "登录已失效，请重新登录"),
    (r"cross-site request refused", "拒绝跨站请求"),
    (r"(?P<role>\w+) users may not do this", "{role}无权进行此操作"),
    (r"conflicts with stored data \(changed concurrently\?\); nothing saved", "与已保存的数据冲突（可能有人同时修改），未保存"),
    (r"database unavailable; try again shortly", "数据库暂时不可用，请稍后再试"),
    (r"object storage unavailable; try again shortly", "对象存储暂时不可用，请稍后再试"),
    (r"must be one of (?P<values>.+)", "只能是 {values}"),
    # sites, cameras, users, reviews (service.db)
    (r"no site (?P<id>.+)", "没有编号为 {id} 的小区"),
    (r"a site with code (?P<code>.+) exists", "编码 {code} 已被其他小区使用"),
    (r"site (?P<code>.+) still has (?P<what>.+); remove or move them first",
     "小区 {code} 还有{what}，请先删除或移走"),
    (r"no camera (?P<id>.+)", "没有摄像头 {id}"),
    (r"a camera with id (?P<id>'[^']*') exists(?P<archived>.*)",
     "摄像头编号 {id} 已存在{archived}"),
    (r"camera (?P<id>.+) has no zones yet", "摄像头 {id} 还没有区域"),
    (r"camera (?P<id>.+) has no snapshot yet", "摄像头 {id} 还没有画面快照"),
    (r"no user (?P<id>.+)", "没有编号为 {id} 的用户"),
    (r"a user named (?P<name>.+) exists", "用户名 {name} 已存在"),
    (r"this is the last active operator; make another operator first", "这是最后一个启用的运维人员，请先设立另一个运维人员"),
    (r"property users belong to one site; give its site_id", "物业用户必须属于一个小区，请选择小区"),
    (r"only property users belong to a site, not (?P<role>\w+) users", "只有物业用户属于小区，{role}不属于"),
    (r"no violation (?P<id>.+)", "没有违法记录 {id}"),
    (r"violation (?P<id>.+) has already been decided", "违法记录 {id} 已审核过"),
    # logging in (service.api.routes.auth), request limits (service.api.limits), unknown addresses (Starlette)
    (r"wrong username or password", "用户名或密码错误"),
    (r"logged out", "已退出登录"),
    (r"login from another site refused", "拒绝来自其他网站的登录"),
    (r"too many wrong passwords for (?P<who>.+?): locked for (?P<n>\d+) more minutes",
     "密码错误次数过多，{who}已被锁定，请 {n} 分钟后再试"),
    (r"request body larger than (?P<n>\d+) bytes", "请求内容超过 {n} 字节"),
    (r"invalid Content-Length", "请求头 Content-Length 无效"),
    (r"Not Found", "没有这个地址"),
    (r"Method Not Allowed", "此地址不支持这种请求方法"),
    # alerts (service.db.alerts)
    (r"no alert (?P<id>.+)", "没有编号为 {id} 的告警"),
    (r"alert (?P<id>\S+) is (?P<status>\w+); cannot become (?P<target>\w+)",
     "告警 {id} 当前为“{status}”，不能再改为“{target}”（可能已有人处理）"),
    # evidence (service.api.evidence, the integrity check of service.verify, service.evidence, service.signing)
    (r"the evidence of violation (?P<id>.+) is not available", "违法记录 {id} 的证据不可用"),
    (r"violation (?P<id>.+) has no evidence file (?P<name>.+)", "违法记录 {id} 没有证据文件 {name}"),
    (r"evidence failed its integrity check; not exported", "证据校验未通过，不予导出"),
    (r"evidence folder missing", "证据文件夹不存在"),
    (r"manifest\.json missing", "缺少证据清单 manifest.json"),
    (r"incomplete: no manifest\.json beside (?P<files>.+) \(its writer stopped before the manifest\)",
     "不完整：{files} 旁没有证据清单 manifest.json（写入在清单之前中断）"),
    (r"manifest\.json or its files unreadable \((?P<why>.+)\)", "证据清单 manifest.json 或其文件无法读取（{why}）"),
    (r"not signed \(manifest\.sig missing\)", "未签名（缺少签名文件 manifest.sig）"),
    (r"signature file unreadable", "签名文件无法读取"),
    (r"signature algorithm (?P<got>.+) is not (?P<expected>\S+)", "签名算法 {got} 不是 {expected}"),
    (r"signed with another key \((?P<got>.+), expected (?P<expected>.+)\)",
     "由其他密钥签名（{got}，应为 {expected}）"),
    (r"signature does not match the manifest \(altered, forged, or its writer stopped between the two\)",
     "签名与证据清单不符（被改动、伪造，或写入在两者之间中断）"),
    (r"(?P<name>[^:]+): altered \(SHA-256 differs\)", "{name}：已被改动（SHA-256 不符）"),
    (r"(?P<name>[^:]+): replaced by a link", "{name}：已被替换为链接"),
    (r"(?P<name>[^:]+): missing", "{name}：缺失"),
    # periods and weeks of the closed-loop pages (service.api.routes.closed_loop, service.reports.week)
    (r"(?P<text>.+) is not an ISO date \(2026-11-02\) or datetime", "{text} 不是 ISO 日期（如 2026-11-02）或日期时间"),
    (r"(?P<text>.+) is not between (?P<first>\d+) and (?P<last>\d+)", "{text} 不在 {first} 至 {last} 年之间"),
    (r"must be before until", "必须早于截止时间"),
    (r"a period is at most (?P<n>\d+) days", "时间段最长 {n} 天"),
    (r"week (?P<text>.+) is not YYYY-Www, e\.g\. 2026-W45", "{text} 不是 YYYY-Www 格式（例如 2026-W45）"),
    (r"(?P<year>\d+) has no ISO week (?P<week>\d+)", "{year} 年没有第 {week} 周（ISO 周）"),
    (r"no report (?P<report>.+)", "没有周报 {report}"),
    # camera sources and snapshots (service.camera.snapshot, detector.sources)
    (r"(?P<source>.+): no such file or folder", "{source}：文件或文件夹不存在"),
    (r"could not open (?P<source>.+?) within (?P<s>\S+) s", "{s} 秒内无法打开视频源 {source}"),
    (r"no frame from (?P<source>.+?) within (?P<s>\S+) s", "{s} 秒内没有从视频源 {source} 收到画面"),
    (r"(?P<source>.+) gave no frame \(not a video or image, or unreadable\)", "视频源 {source} 没有画面（不是视频或图片，或无法读取）"),
    (r"(?P<source>.+): not a readable image", "{source}：无法读取的图片"),
    (r"(?P<source>.+): no images \((?P<kinds>.+)\) in folder", "{source}：文件夹中没有图片（{kinds}）"),
    (r"(?P<source>.+): none of the images could be decoded", "{source}：所有图片都无法解码"),
    (r"(?P<source>.+): not a decodable video \(corrupt, truncated or unsupported codec\)",
     "{source}：无法解码的视频（损坏、不完整或编码不支持）"),
    # camera workers (service.camera.workers, detector.sources), shown with the camera's state
    (r"no zones drawn yet", "尚未绘制区域"),
    (r"camera (?P<id>\S+) zones v(?P<v>\d+): (?P<problems>.+)", "摄像头 {id} 的区域（版本 v{v}）无效：{problems}"),
    (r"could not open stream", "无法打开视频流"),
    (r"stream stopped delivering frames", "视频流中断，不再有画面"),
    # zone files (zones.config, zones.schedule, service.db.zones)
    (r"top level must be an object with camera_id, frame_size and zones", "区域文件必须是包含 camera_id、frame_size 和 zones 的对象"),
    (r"id must be 1-128 characters of letters, digits, '-', '_' or '\.'", "编号须为 1–128 个字母、数字、“-”“_”或“.”"),
    (r"camera_id must be 1-128 characters of letters, digits, '-', '_' or '\.'", "摄像头编号须为 1–128 个字母、数字、“-”“_”或“.”"),
    (r"camera_id (?P<given>.+) is not this camera \((?P<id>.+)\)", "摄像头编号 {given} 不是本摄像头（{id}）"),
    (r"polygon needs at least 3 points, got (?P<n>.+)", "多边形至少需要 3 个点，现有 {n} 个"),
    (r"points outside the frame \((?P<frame>.+?)\): (?P<points>.+)", "有顶点在画面（{frame}）之外：{points}"),
    (r"polygon is invalid \((?P<why>.+)\); is it self-intersecting\?", "多边形无效（{why}）：边是否自相交？"),
    (r"polygon has no area", "多边形面积为零"),
    (r"unknown timezone (?P<tz>.+)", "未知时区 {tz}"),
    (r"a recording's start is between the years 2000 and 2999", "录像起点须在 2000 至 2999 年之间"),
    (r"no zones defined", "没有定义任何区域"),
    (r"duplicate zone id", "区域编号重复"),
    (r"unknown classes (?P<classes>.+) \(use vehicle, obstacle, obstruction or COCO class names\)",
     "未知检测对象 {classes}（请用 vehicle、obstacle、obstruction 或 COCO 类别名）"),
    (r"classes is empty", "至少选择一种检测对象"),
    (r"cannot read file: (?P<why>.+)", "无法读取文件：{why}"),
    (r"not valid (?P<kind>.+?): (?P<why>.+)", "不是有效的 {kind}：{why}"),
    (r"invalid time in schedule window (?P<w>.+)", "生效时段 {w} 中的时间无效"),
    (r"schedule window (?P<w>.+) is not HH:MM-HH:MM", "生效时段 {w} 格式应为 HH:MM-HH:MM"),
    (r"schedule window (?P<w>.+) is empty", "生效时段 {w} 长度为零"),
    # ground calibration (zones.calibration)
    (r"calibrate with either width_m and length_m \(rectangle corners\) or ground_m \(points\)",
     "标定方式二选一：矩形四角加宽度、长度，或参照点加地面坐标"),
    (r"ground must be an object with (?P<forms>.+)", "地面标定必须是一个对象（{forms}）"),
    (r"unknown keys (?P<keys>.+)", "不认识的字段 {keys}"),
    (r"ground needs (?P<forms>.+); got (?P<keys>.+)", "地面标定需要 {forms}；收到 {keys}"),
    (r"(?P<field>\w+) must be a positive number of metres, got (?P<value>.+)", "{field}必须是正的米数，收到 {value}"),
    (r"(?P<field>\w+) must be a list of \[x, y\] number pairs", "{field}必须是 [x, y] 数对的列表"),
    (r"coordinates must be finite numbers", "坐标必须是有限的数字"),
    (r"a rectangle has 4 corners, got (?P<n>.+)", "矩形需要 4 个角点，现有 {n} 个"),
    (r"a homography needs at least 4 reference points, got (?P<n>.+)", "至少需要 4 个参照点，现有 {n} 个"),
    (r"ground_m has (?P<g>.+) points for (?P<i>.+) image points", "地面坐标有 {g} 个，画面参照点有 {i} 个，数量须相同"),
    (r"(?P<label>.+)s (?P<numbers>.+) lie on one line: they cannot fix the perspective",
     "第 {numbers} 个点在一条直线上，无法确定透视关系"),
    (r"corners are not in order around the rectangle: their outline crosses itself \(a bow tie\)",
     "角点没有按矩形的顺序排列：连线自相交（“蝴蝶结”）"),
    (r"corners outline a concave shape: a rectangle on the ground always looks convex; one is misplaced",
     "角点围成凹四边形：地面上的矩形在画面中总是凸的，有一个角点放错了"),
    ((r"the points barely fix the perspective \(ill-conditioned homography\): "
      r"spread four or more over the lane, no three on one line"),
     "这些点几乎无法确定透视关系：请在车道上分散取 4 个以上的点，任意 3 点不共线"),
    (r"the points cannot all be in front of one camera: their image and ground orders disagree \(swapped points\?\)",
     "这些点不可能都在同一台摄像头前方：画面与地面上的顺序不一致（点的顺序颠倒了？）"),
    ((r"the reference points disagree: the best perspective misses one by (?P<m>.+) m "
      r"\(a typo in a distance, or a point not on the ground\)"),
     "参照点互相矛盾：最佳透视仍有一点偏差 {m} 米（距离填错，或有点不在地面上）"),
    (r"zone polygon must be a valid polygon with an area", "区域多边形必须有效且有面积"),
    (r"zone point \((?P<x>.+), (?P<y>.+)\) lies beyond the horizon of this calibration",
     "区域顶点（{x}, {y}）在此标定的地平线以外"),
    ((r"zone point \((?P<x>.+), (?P<y>.+)\) maps (?P<d>.+) m from the calibration: it is at the horizon, "
      r"where a pixel spans kilometres; keep zones on the visible ground"),
     "区域顶点（{x}, {y}）距标定矩形 {d} 米，已接近地平线：请把区域画在可见的地面上"),
    (r"footprint_polygon needs lane and depth_m together, or neither", "车道与纵深须同时给出或都不给"),
    (r"box bottom edge \(y=(?P<y>.+)\) lies at or beyond the horizon of this calibration", "目标框底边（y={y}）在地平线以外"),
]
_OWN = [(re.compile(pattern, re.DOTALL), chinese) for pattern, chinese in OWN]


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.*?)" for i, p in enumerate(parts))
    return re.compile(regex, re.DOTALL)


def _pydantic_templates() -> list[tuple[str, re.Pattern[str]]]:
    """Pydantic's English messages as patterns, the most specific (most literal text) first."""
    found = [(e["type"], e["message_template_python"]) for e in list_all_errors() if e["type"] in PYDANTIC]
    found.sort(key=lambda item: -len(re.sub(r"\{\w+\}", "", item[1])))
    return [(kind, _template_regex(template)) for kind, template in found]


_PYDANTIC_TEXT = _pydantic_templates()
_LOCATION = re.compile(r"(?:zone '(?P<zone>[^']*)'|zone #(?P<number>\d+)|(?P<field>\w[\w.]*)): (?P<rest>.+)",
                       re.DOTALL)


def field_label(name: str) -> str:
    """``zones.0.polygon`` → 区域.第1项.多边形 (the parts that have a label get it)."""
    parts = []
    for part in str(name).split("."):
        parts.append(FIELDS.get(part, f"第{int(part) + 1}项" if part.isdigit() else part))
    return ".".join(parts)


def _fill(chinese: str, groups: Mapping[str, Any]) -> str:
    values = {}
    for key, value in groups.items():
        text = "" if value is None else str(value)
        if key == "field":
            text = field_label(text)
        elif key == "role":
            text = ROLES.get(text, text)
        elif key == "what":
            text = WHAT.get(text, text)
        elif key in ("status", "target"):
            text = ALERT_STATUSES.get(text, text)
        elif key == "who":
            text = WHO.get(text, text)
        elif key == "fields":
            text = "、".join(field_label(f.strip()) for f in text.split(","))
        elif key == "why":
            text = GEOMETRY_FAULTS.sub(lambda m: GEOMETRY[m[0]], text)
        elif key == "archived" and text:
            text = "（已归档，保留其历史）"
        values[key] = text
    return chinese.format(**values)


def _pydantic(kind: str, context: Mapping[str, Any]) -> str | None:
    chinese = PYDANTIC.get(kind)
    if chinese is None:
        return None
    values = {}
    for key, value in context.items():
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        values[key] = value
    if kind in ("value_error", "assertion_error"):
        inner = str(values.get("error", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return translate(inner)
    try:
        return chinese.format(**values)
    except (KeyError, IndexError, ValueError):
        return None


def _known_field(name: str) -> bool:
    first, *rest = name.split(".")
    return first in FIELDS and all(part in FIELDS or part.isdigit() for part in rest)


def translate(message: str) -> str | None:
    """The Chinese of one English message (None: there is none)."""
    message = message.strip()
    located = _LOCATION.fullmatch(message)
    known = located is not None and (located["field"] is None or _known_field(located["field"]))
    if known:
        return _located(located)
    for pattern, chinese in _OWN:
        match = pattern.fullmatch(message)
        if match:
            return _fill(chinese, match.groupdict())
    for kind, pattern in _PYDANTIC_TEXT:
        match = pattern.fullmatch(message)
        if match:
            return _pydantic(kind, match.groupdict())
    return _located(located) if located else None  # "<a field we do not know>: <a message we do>"


def _located(located: re.Match[str]) -> str | None:
    rest = translate(located["rest"])
    if rest is None:
        return None
    if located["zone"] is not None:
        where = f"区域 '{located['zone']}'"
    elif located["number"] is not None:
        where = f"第 {located['number']} 个区域"
    else:
        where = field_label(located["field"])
    return f"{where}：{rest}"


def translate_validation_error(error: Mapping[str, Any]) -> str | None:
    """A FastAPI/pydantic error dict (type, loc, msg, ctx) in Chinese, with its field named."""
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    text = _pydantic(error.get("type", ""), {**error.get("ctx", {})}) or translate(str(error.get("msg", "")))
    if text is None:
        return None
    return f"{field_label('.'.join(loc))}：{text}" if loc else text


def chinese_for(detail: Any) -> list[str]:
    """``detail_zh`` for an error body's ``detail`` (a message, a list of problems with or without a ``message``
    heading them, or pydantic's error list), in the order the pages list them: the message, then each problem."""
    if isinstance(detail, str):
        items: Iterable[Any] = [detail]
    elif isinstance(detail, Mapping) and isinstance(detail.get("problems"), list):
        heading = [detail["message"]] if isinstance(detail.get("message"), str) else []
        items = [*heading, *detail["problems"]]
    elif isinstance(detail, list):
        items = detail
    else:
        return [FALLBACK]
    out = []
    for item in items:
        text = translate_validation_error(item) if isinstance(item, Mapping) else translate(str(item))
        out.append(text or FALLBACK)
    return out


def error_body(detail: Any) -> dict[str, Any]:
    """An error response's body: the English ``detail`` as before, and its Chinese."""
    return {"detail": detail, "detail_zh": chinese_for(detail)}
