// The media page's text: "Show boxes" draws where each line was read over the picture (the
// boxes are SVG in the original picture's pixels, scaled with it); a line of a video's text
// seeks the player to its time and plays. A static file: the CSP forbids inline script.
(function () {
  "use strict";

  var boxes = document.querySelector("[data-text-boxes]");
  var toggle = document.querySelector("[data-toggle-boxes]");
  if (boxes && toggle) {
    toggle.addEventListener("click", function () {
      var shown = boxes.classList.toggle("d-none") === false;
      toggle.setAttribute("aria-pressed", shown ? "true" : "false");
      toggle.textContent = shown ? "Hide boxes" : "Show boxes";
    });
    // Pointing at a line marks its box.
    document.querySelectorAll("[data-text-line-box]").forEach(function (line) {
      var box = boxes.querySelector('[data-text-box="' + line.dataset.textLineBox + '"]');
      if (!box) return;
      line.addEventListener("mouseenter", function () { box.classList.add("is-current"); });
      line.addEventListener("mouseleave", function () { box.classList.remove("is-current"); });
    });
  }

  var player = document.querySelector("video[data-player], audio[data-player]");
  document.querySelectorAll("[data-text-timeline] [data-time]").forEach(function (line) {
    line.addEventListener("click", function () {
      if (!player) return;
      player.currentTime = Number(line.dataset.time);
      var playing = player.play();
      if (playing && playing.catch) playing.catch(function () { /* the browser may refuse autoplay */ });
      player.scrollIntoView({ behavior: "smooth", block: "nearest" });
    });
  });
})();
