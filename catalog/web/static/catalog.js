// The catalogue's page behaviour: drag-and-drop, upload with progress, the compare slider,
// seeking the video from its keyframe strip, confirmation of removals. Kept in this file so a
// strict Content-Security-Policy can forbid inline script; every page works without it too.
(function () {
  "use strict";

  function formatSize(bytes) {
    if (bytes < 1000) return bytes + " bytes";
    if (bytes < 1e6) return (bytes / 1e3).toFixed(1) + " KB";
    if (bytes < 1e9) return (bytes / 1e6).toFixed(1) + " MB";
    return (bytes / 1e9).toFixed(2) + " GB";
  }

  function describeFile(zone, input) {
    var label = zone.querySelector("[data-file-name]");
    var file = input.files && input.files[0];
    if (label) label.textContent = file ? file.name + " · " + formatSize(file.size) : "";
    var form = input.form;
    var max = form && form.dataset.maxBytes ? Number(form.dataset.maxBytes) : 0;
    var error = zone.querySelector('[data-error-for="file"]');
    if (file && max && file.size > max) {
      if (error) { error.textContent = "The file is " + formatSize(file.size) + ", larger than the upload limit of " + form.dataset.maxLabel + "."; error.classList.add("d-block"); }
      input.classList.add("is-invalid");
      return false;
    }
    if (error && input.classList.contains("is-invalid") && file) { error.textContent = ""; error.classList.remove("d-block"); input.classList.remove("is-invalid"); }
    return true;
  }

  document.querySelectorAll("[data-dropzone]").forEach(function (zone) {
    var input = zone.querySelector('input[type="file"]');
    if (!input) return;
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("is-dragover"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("is-dragover"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        describeFile(zone, input);
      }
    });
    input.addEventListener("change", function () { describeFile(zone, input); });
  });

  function showErrors(form, message, errors) {
    var box = form.querySelector("[data-form-message]");
    if (box) { box.textContent = message; box.classList.remove("d-none"); }
    form.querySelectorAll(".is-invalid").forEach(function (el) { el.classList.remove("is-invalid"); });
    Object.keys(errors || {}).forEach(function (name) {
      var field = form.querySelector('[name="' + name + '"]');
      var feedback = form.querySelector('[data-error-for="' + name + '"]');
      if (field) field.classList.add("is-invalid");
      if (feedback) { feedback.textContent = errors[name].join(" "); feedback.classList.add("d-block"); }
    });
    if (box) box.scrollIntoView({ behavior: "smooth", block: "center" });
  }

  document.querySelectorAll("form[data-xhr-upload]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var input = form.querySelector('input[type="file"]');
      var zone = form.querySelector("[data-dropzone]");
      if (input && zone && !describeFile(zone, input)) { event.preventDefault(); return; }
      if (!window.FormData || !window.XMLHttpRequest) return; // the plain form post still works
      event.preventDefault();
      var bar = form.querySelector("[data-progress-bar]");
      var progress = form.querySelector("[data-progress]");
      var note = form.querySelector("[data-progress-note]");
      var button = form.querySelector("[data-submit]");
      progress.classList.remove("d-none"); note.classList.remove("d-none"); button.disabled = true;
      var request = new XMLHttpRequest();
      request.open("POST", form.action || window.location.href);
      request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        var share = Math.round((e.loaded / e.total) * 100);
        bar.style.width = share + "%";
        bar.textContent = share < 100 ? share + "%" : "Checking against the catalogue…";
      });
      request.addEventListener("load", function () {
        var answer = null;
        try { answer = JSON.parse(request.responseText); } catch (err) { answer = null; }
        if (answer && answer.ok && answer.redirect) { window.location.assign(answer.redirect); return; }
        button.disabled = false; progress.classList.add("d-none"); note.classList.add("d-none");
        bar.style.width = "0%";
        var message = (answer && answer.message) || (request.status === 413 ? "The file is larger than the upload limit." : "The upload failed (" + request.status + "). Nothing was stored.");
        showErrors(form, message, answer && answer.errors);
      });
      request.addEventListener("error", function () {
        button.disabled = false; progress.classList.add("d-none"); note.classList.add("d-none");
        showErrors(form, "The connection failed during the upload. Nothing was stored; try again.", {});
      });
      request.send(new FormData(form));
    });
  });

  document.querySelectorAll("[data-compare-slider]").forEach(function (slider) {
    var top = document.querySelector("[data-overlay-top]");
    if (!top) return;
    function apply() { top.style.clipPath = "inset(0 " + (100 - Number(slider.value)) + "% 0 0)"; }
    slider.addEventListener("input", apply);
    apply();
  });

  // Compare two videos: the scrubber's time is in the first; the second is sought to the time
  // the matching segment puts it at (before the first segment or after the last, at the
  // nearest one's offset), so both players show the same moment frame against frame.
  document.querySelectorAll("[data-scrubber]").forEach(function (scrubber) {
    var segments = JSON.parse(scrubber.dataset.segments || "[]");
    var range = scrubber.querySelector("[data-scrubber-range]");
    var said = scrubber.querySelector("[data-scrubber-times]");
    var a = document.querySelector("[data-compare-player=a]");
    var b = document.querySelector("[data-compare-player=b]");
    if (!segments.length || !range || !a || !b) return;
    function matching(t) {
      var best = segments[0], gap = Infinity;
      segments.forEach(function (s) {
        var d = t < s.query_start ? s.query_start - t : (t > s.query_end ? t - s.query_end : 0);
        if (d < gap) { gap = d; best = s; }
      });
      var span = best.query_end - best.query_start;
      var rate = span > 0 ? (best.match_end - best.match_start) / span : 1;
      return Math.max(0, best.match_start + (t - best.query_start) * rate);
    }
    function seek(ta, tb) {
      a.currentTime = ta; b.currentTime = tb;
      range.value = ta;
      if (said) said.textContent = scrubber.dataset.labelA + " " + ta.toFixed(1) + " s ↔ " + scrubber.dataset.labelB + " " + tb.toFixed(1) + " s";
    }
    range.addEventListener("input", function () { var t = Number(range.value); seek(t, matching(t)); });
    scrubber.querySelectorAll("[data-seek-a]").forEach(function (button) {
      button.addEventListener("click", function () {
        seek(Number(button.dataset.seekA), Number(button.dataset.seekB));
      });
    });
  });

  var player = document.querySelector("[data-player]");
  document.querySelectorAll("[data-seek]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!player) return;
      player.currentTime = Number(button.dataset.seek);
      document.querySelectorAll(".keyframe.is-current").forEach(function (b) { b.classList.remove("is-current"); });
      button.classList.add("is-current");
    });
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
