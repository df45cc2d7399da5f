"""Subtitles (catalog.text.subtitles): text streams inside MP4 (mov_text), MKV (SubRip, ASS)
and WebM (WebVTT) made here with PyAV, and sidecar .srt/.vtt files in every encoding met in
the wild, with the bad inputs a hostile or broken file brings."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.subtitles.subtitle import SubtitleSet

from catalog.text import subtitles
from catalog.text.subtitles import SubtitleRejected, read_subtitle_file, read_subtitle_streams

# The ASS header text subtitle encoders need (FFmpeg's default style).
ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    b"BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    b"BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    b"\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect,"
    b" Text\n"
)
CUES = [(1.0, 2.5, "Песков {\\i1}сказал{\\i0}"), (3.0, 4.25, "Київ\\Nдругий рядок")]


def video_with_subtitles(
    container_format: str, codec: str, video_codec: str, language: str = "rus"
) -> bytes:
    """A 5-second black clip with a subtitle stream of CUES (ASS events, as FFmpeg encodes)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        video = container.add_stream(video_codec, rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        text = container.add_stream(codec)
        text.metadata["language"] = language
        text.codec_context.time_base = Fraction(1, 1000)
        text.codec_context.subtitle_header = ASS_HEADER
        text.codec_context.open()
        for start, end, line in CUES:
            event = f"0,0,Default,,0,0,0,,{line}".encode()
            cue = SubtitleSet.create(
                text=event, start=0, end=int((end - start) * 1000), pts=int(start * 1000)
            )
            packet = text.codec_context.encode_subtitle(cue)
            packet.stream, packet.time_base = text, Fraction(1, 1000)
            container.mux(packet)
        black = np.zeros((48, 64, 3), np.uint8)
        for _ in range(50):
            for packet in video.encode(av.VideoFrame.from_ndarray(black, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("container_format", "codec", "video_codec"),
    [
        ("mp4", "mov_text", "libx264"),
        ("matroska", "subrip", "libx264"),
        ("matroska", "ass", "libx264"),
        ("webm", "webvtt", "libvpx"),
    ],
)
def test_subtitle_streams_inside_containers_are_read_with_their_times(
    container_format: str, codec: str, video_codec: str
) -> None:
    data = video_with_subtitles(container_format, codec, video_codec)
    reading = read_subtitle_streams(data)
    assert reading.notes == []
    assert [(s.text, s.at, s.until) for s in reading.spans] == [
        ("Песков сказал", 1.0, 2.5),
        ("Київ\nдругий рядок", 3.0, 4.25),
    ]
    assert {(s.field, s.source, s.lang) for s in reading.spans} == {("subtitle", "stream:1", "rus")}


def test_a_file_that_is_no_container_is_noted_not_raised(tmp_path: Path) -> None:
    reading = read_subtitle_streams(b"plain words, no container")
    assert reading.spans == [] and reading.notes[0].startswith("subtitles not read")
    (tmp_path / "clip.mkv").write_bytes(video_with_subtitles("matroska", "subrip", "libx264"))
    assert len(read_subtitle_streams(str(tmp_path / "clip.mkv")).spans) == 2


SRT = """1
00:00:01,000 --> 00:00:02,500
<i>Песков:</i> Кремль не знал

2
00:00:03,000 --> 00:00:04,000
<font color="#ffff00">Київ</font> &amp; Kyiv
"""


@pytest.mark.parametrize(
    "data",
    [
        SRT.encode("utf-8"),
        b"\xef\xbb\xbf" + SRT.encode("utf-8"),
        SRT.replace("\n", "\r\n").encode("utf-16"),  # with its BOM
        SRT.replace("Київ", "Киев").encode("cp1251"),  # cp1251 has no "ї"
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "cp1251"],
)
def test_srt_files_are_read_in_any_encoding_met(data: bytes) -> None:
    reading = read_subtitle_file(data, "clip.srt")
    assert reading.notes == []
    assert [(s.at, s.until) for s in reading.spans] == [(1.0, 2.5), (3.0, 4.0)]
    assert reading.spans[0].text == "Песков: Кремль не знал"
    assert reading.spans[1].text in ("Київ & Kyiv", "Киев & Kyiv")
    assert {(s.field, s.source) for s in reading.spans} == {("subtitle", "sidecar")}


def test_webvtt_files_keep_cues_and_drop_notes_styles_and_voice_tags() -> None:
    vtt = (
        "WEBVTT - a test\n\nNOTE not a cue\n\nSTYLE\n::cue { color: yellow }\n\n"
        "intro\n00:01.000 --> 00:02.000 align:start position:10%\n"
        "<v Roger>Кремль</v> <c.yellow>горит</c>\n\n"
        "01:00:03.500 --> 01:00:05.000\nКиїв <00:00:04.000>мовчить\n"
    )
    reading = read_subtitle_file(vtt.encode(), "clip.uk.VTT")
    assert [(s.at, s.until, s.text, s.lang) for s in reading.spans] == [
        (1.0, 2.0, "Кремль горит", "uk"),
        (3603.5, 3605.0, "Київ мовчить", "uk"),
    ]


def test_bad_cues_are_left_out_and_noted_while_the_good_ones_stay() -> None:
    deep = "<b>" * (subtitles.MAX_TAG_DEPTH + 1) + "deep" + "</b>" * (subtitles.MAX_TAG_DEPTH + 1)
    srt = (
        "1\n00:00:01,000 --> 00:00:02,000\nfine\n\n"
        "2\n00:00:0x,000 --> 00:00:03,000\nbad time\n\n"
        "3\n00:00:05,000 --> 00:00:04,000\nends before it starts\n\n"
        f"4\n00:00:06,000 --> 00:00:07,000\n{deep}\n\n"
        "5\nno time line at all\n"
    )
    reading = read_subtitle_file(srt.encode(), "clip.srt")
    assert [s.text for s in reading.spans] == ["fine"]
    assert reading.notes == ["4 cues left out: no valid time line, or tags nested too deep"]


def test_nul_control_and_bidi_characters_are_removed_from_the_text() -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\nКре\x00мль\x07 \u202eлинь\u202c \u2066Київ\u2069\n"
    assert read_subtitle_file(srt.encode(), "a.srt").spans[0].text == "Кремль линь Київ"
    assert subtitles.clean("{\\an8}{\\pos(10,20)}Верх\\hекрана") == "Верх екрана"


def test_long_cues_are_cut_and_too_many_cues_stop_the_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    long = "1\n00:00:01,000 --> 00:00:02,000\n" + "слово " * 400 + "\n"
    reading = read_subtitle_file(long.encode(), "a.srt")
    assert len(reading.spans[0].text) == subtitles.MAX_CUE_CHARS
    assert reading.notes == [f"a cue at 1 s was cut to {subtitles.MAX_CUE_CHARS} characters"]
    monkeypatch.setattr(subtitles, "MAX_CUES", 10)
    many = "".join(f"{i}\n00:00:{i:02d},000 --> 00:00:{i:02d},500\ncue {i}\n\n" for i in range(30))
    reading = read_subtitle_file(many.encode(), "a.srt")
    assert len(reading.spans) == 10 and reading.notes == ["subtitles cut: more than 10 cues"]


@pytest.mark.parametrize(
    ("data", "name", "code", "says"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "a.srt", "binary", "NUL bytes"),
        (b"just some words\nand more words\n", "a.srt", "malformed", "1 blocks has a valid"),
        (b"1\n00:00:01,000 -> 2\nx\n\n\n2\n", "a.srt", "malformed", "of its 2 blocks"),
        (b"\n\n \n", "a.srt", "malformed", "it holds no cue"),
        (b"00:01.000 --> 00:02.000\nno header\n", "a.vtt", "malformed", "begin with the line"),
        (b"\xff\xfe" + b"\x00\xd8", "a.srt", "bad_encoding", "UTF-16"),
        (b"\x01\x02\x03\x04" * 40, "a.srt", "binary", "control bytes"),
    ],
    ids=["png", "no-cue", "bad-arrow", "empty", "vtt-no-header", "broken-utf16", "control-bytes"],
)
def test_unreadable_files_are_rejected_with_a_reason(
    data: bytes, name: str, code: str, says: str
) -> None:
    with pytest.raises(SubtitleRejected, match=says) as raised:
        read_subtitle_file(data, name)
    assert raised.value.code == code


def test_a_file_over_the_size_limit_is_rejected_before_it_is_read() -> None:
    huge = b"1\n00:00:01,000 --> 00:00:02,000\nx\n\n" * (subtitles.MAX_FILE_BYTES // 30)
    with pytest.raises(SubtitleRejected, match="more than") as raised:
        read_subtitle_file(huge, "huge.srt")
    assert raised.value.code == "too_large"


def test_the_sidecar_next_to_a_video_is_found(tmp_path: Path) -> None:
    video = tmp_path / "Clip.mp4"
    video.write_bytes(b"")
    assert subtitles.sidecar_for(video) is None
    (tmp_path / "other.srt").write_text("x")
    (tmp_path / "Clip.notes.txt").write_text("x")
    (tmp_path / "clip.en.VTT").write_text("x")
    assert subtitles.sidecar_for(video) == tmp_path / "clip.en.VTT"
    (tmp_path / "Clip.SRT").write_text("x")
    assert subtitles.sidecar_for(video) == tmp_path / "Clip.SRT"  # the plain name first
    assert subtitles.sidecar_for(tmp_path / "missing" / "x.mp4") is None
    assert subtitles.is_subtitle_file("a.Srt") and subtitles.is_subtitle_file(Path("b.vtt"))
    assert not subtitles.is_subtitle_file("c.ass")
    assert subtitles.language_of("clip.pt-BR.srt") == "pt-br"
    assert subtitles.language_of("clip.srt") is None
