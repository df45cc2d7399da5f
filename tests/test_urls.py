"""The canonical form of a post's URL: every common spelling of one post meets, different
posts stay apart, and the migration that filled the column agrees with the app."""

from __future__ import annotations

import importlib.util

import pytest

from catalog import schema
from catalog.urls import canonical_url

# Pairs of spellings of one post that must meet.
SAME: list[tuple[str, str]] = [
    ("https://twitter.com/user/status/1?s=20", "x.com/user/status/1/"),
    ("http://twitter.com/User/status/1", "https://x.com/user/status/1"),
    ("https://mobile.twitter.com/user/status/1?t=abc&s=19", "https://x.com/user/status/1"),
    ("https://fxtwitter.com/user/status/1", "https://vxtwitter.com/user/status/1"),
    ("https://twitter.com/i/web/status/1", "https://x.com/someone/status/1"),
    ("https://x.com/user/status/1/photo/1", "https://x.com/user/status/1"),
    ("https://twitter.com/#!/user/status/1", "https://x.com/user/status/1"),
    ("https://WWW.X.COM/user/status/1#reply", "https://x.com/user/status/1"),
    ("https://t.me/s/chan/5", "https://t.me/chan/5"),
    ("https://telegram.me/Chan/5?single", "https://t.me/chan/5"),
    ("https://youtu.be/dQw4w9WgXcQ?si=abc", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://youtube.com/shorts/dQw4w9WgXcQ", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://www.youtube.com/embed/dQw4w9WgXcQ", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://youtube.com/live/dQw4w9WgXcQ?feature=share", "youtube.com/watch?v=dQw4w9WgXcQ"),
    (
        "https://m.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42",
        "https://music.youtube.com/watch?v=dQw4w9WgXcQ",
    ),
    ("https://www.instagram.com/reel/Cx1_a/?igsh=zz", "https://instagram.com/p/Cx1_a"),
    ("https://instagram.com/reels/Cx1_a/", "https://www.instagram.com/tv/Cx1_a"),
    ("https://www.instagram.com/someone/p/Cx1_a/?igshid=1", "https://instagram.com/p/Cx1_a/"),
    (
        "https://m.facebook.com/story.php?story_fbid=9&id=4&mibextid=x",
        "https://www.facebook.com/story.php?id=4&story_fbid=9",
    ),
    ("https://mbasic.facebook.com/a/posts/9", "https://web.facebook.com/a/posts/9/?fbclid=q"),
    (
        "https://old.reddit.com/r/pics/comments/abc123/a_title/",
        "https://www.reddit.com/r/pics/comments/abc123",
    ),
    ("https://np.reddit.com/r/pics/comments/abc123/", "https://redd.it/abc123"),
    ("https://m.vk.com/wall-1_2", "https://vk.ru/wall-1_2"),
    ("HTTP://Example.COM:80/a/b/", "https://example.com/a/b"),
    ("https://example.com:443/a?utm_source=x&utm_medium=y", "https://example.com/a"),
    ("https://example.com/a?b=2&a=1&gclid=z&_ga=1", "https://example.com/a?a=1&b=2"),
    ("https://example.com/a?ref=home&ref_src=tw&mc_cid=1&mc_eid=2", "https://example.com/a"),
    ("https://www.tiktok.com/@who/video/72?is_from_webapp=1", "https://tiktok.com/@who/video/72"),
    ("  https://vm.tiktok.com/ZMabc/  ", "https://vm.tiktok.com/ZMabc"),
    ("https://open.spotify.com/track/3n3?si=abc", "https://open.spotify.com/track/3n3"),
    ("https://example.com/post/5?feature=share", "https://example.com/post/5"),
]
# Pairs that name different posts and must stay apart.
DIFFERENT: list[tuple[str, str]] = [
    ("https://x.com/user/status/1", "https://x.com/user/status/2"),
    ("https://t.me/chan/5", "https://t.me/other/5"),
    ("https://t.me/chan/5", "https://t.me/chan/6"),
    ("https://youtube.com/watch?v=dQw4w9WgXcQ", "https://youtube.com/watch?v=aaaaaaaaaaa"),
    ("https://youtu.be/dQw4w9WgXcQ", "https://youtu.be/aaaaaaaaaaa"),
    ("https://example.com/item?id=1", "https://example.com/item?id=2"),
    ("https://facebook.com/story.php?story_fbid=9&id=4", "https://facebook.com/story.php?id=4"),
    ("https://instagram.com/p/Cx1_a", "https://instagram.com/p/Cx1_b"),
    ("https://x.com/alice", "https://x.com/bob"),
    ("https://vm.tiktok.com/ZMabc", "https://vm.tiktok.com/ZMabd"),
    ("https://example.com/A", "https://example.com/a"),  # paths may tell case apart
    ("https://example.com/a", "https://example.org/a"),
    ("https://example.com:8443/a", "https://example.com/a"),
    ("https://reddit.com/r/pics/comments/abc123", "https://reddit.com/r/pics/comments/abc124"),
    ("https://example.com/watch?t=10", "https://example.com/watch"),  # t= is not dropped here
    ("https://example.com/a?feature=photos", "https://example.com/a"),
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_spellings_of_one_post_meet(one: str, other: str) -> None:
    assert canonical_url(one) == canonical_url(other)


@pytest.mark.parametrize(("one", "other"), DIFFERENT)
def test_different_posts_stay_apart(one: str, other: str) -> None:
    assert canonical_url(one) != canonical_url(other)


def test_the_canonical_forms_of_the_main_platforms() -> None:
    assert canonical_url("https://twitter.com/user/status/1?s=20") == "https://x.com/i/status/1"
    assert canonical_url("https://youtu.be/dQw4w9WgXcQ") == (
        "https://youtube.com/watch?v=dQw4w9WgXcQ"
    )
    assert canonical_url("https://t.me/s/Chan/5") == "https://t.me/chan/5"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("not a url", "not a url"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
        ("https://[::1", "https://[::1"),
        ("ftp://example.com/a", "ftp://example.com/a"),
    ],
)
def test_what_is_no_web_address_comes_back_trimmed(given: str | None, kept: str | None) -> None:
    assert canonical_url(given) == kept


def test_a_long_url_is_cut_to_the_column() -> None:
    long = "example.com/" + "a" * 3000
    assert len(canonical_url(long) or "") == 2048


def _frozen_copy():  # the function the migration filled the column with
    path = next(schema.MIGRATIONS_DIR.glob("versions/*_e5a5c0de0005_*.py"))
    spec = importlib.util.spec_from_file_location("url_canonical_migration", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.canonical_url


@pytest.mark.parametrize("url", [u for pair in SAME + DIFFERENT for u in pair])
def test_the_migrations_copy_agrees_with_the_app(url: str) -> None:
    assert _frozen_copy()(url) == canonical_url(url)
