// The review console's keyboard and refresh (CSP: script-src 'self', so no inline handlers).
// j/k next/previous, 1-9 pick a category, Enter confirm (or save the pick), x select,
// b confirm every selected ticket. The queue polls for new tickets without a reload.
(function () {
  "use strict";
  var queue = document.getElementById("queue");
  if (!queue) { return; }
  var csrf = document.body.dataset.csrf;
  var canDecide = queue.dataset.canDecide === "yes";
  var statusLine = document.getElementById("status");
  var current = 0;
  var busy = false;

  function cards() { return Array.prototype.slice.call(queue.querySelectorAll(".card")); }

  function say(text, bad) {
    statusLine.textContent = text;
    statusLine.className = "status" + (bad ? " bad" : "");
  }

  function count() {
    var n = cards().length;
    document.getElementById("queue-count").textContent = String(n);
    var list = document.getElementById("cards");
    if (list) { list.dataset.count = String(n); }
    if (n === 0 && !queue.querySelector(".empty")) {
      var empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "The review queue is empty.";
      document.getElementById("cards").appendChild(empty);
    }
  }

  function focus(index) {
    var all = cards();
    if (!all.length) { current = 0; return; }
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (card, i) { card.classList.toggle("current", i === current); });
    all[current].scrollIntoView({ block: "nearest" });
  }

  function choose(card, category) {
    card.dataset.choice = category;
    card.querySelectorAll("button.cat").forEach(function (b) {
      b.classList.toggle("chosen", b.value === category);
    });
  }

  function post(url, form) {
    form.append("csrf_token", csrf);
    return fetch(url, {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf }
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    });
  }

  function done(card) {
    var index = cards().indexOf(card);
    card.remove();
    count();
    focus(index);
  }

  function decide(card) {
    if (!canDecide || busy) { return; }
    var category = card.dataset.choice || card.dataset.category;
    if (!category) { say("pick a category first (1-9)", true); return; }
    busy = true;
    var form = new FormData();
    form.append("category", category);
    post(card.querySelector("form.decide").action, form).then(function (answer) {
      busy = false;
      if (answer.ok) {
        say(card.dataset.id.slice(0, 8) + ": " + answer.body.results[0].message);
        done(card);
      } else {
        var error = answer.body.error || (answer.body.results && answer.body.results[0]) || {};
        say(error.message || "not saved", true);
      }
    }, function () { busy = false; say("network error; not saved", true); });
  }

  function bulk() {
    var picked = cards().filter(function (c) { return c.classList.contains("selected"); });
    if (!canDecide || busy || !picked.length) { return; }
    busy = true;
    var form = new FormData();
    picked.forEach(function (c) { form.append("ticket_id", c.dataset.id); });
    post(queue.dataset.bulk, form).then(function (answer) {
      busy = false;
      var results = answer.body.results || [];
      var saved = 0;
      results.forEach(function (r) {
        var card = queue.querySelector('.card[data-id="' + r.id + '"]');
        if (r.ok && card) { saved += 1; done(card); }
      });
      say("confirmed " + saved + " of " + picked.length, saved !== picked.length);
    }, function () { busy = false; say("network error; not saved", true); });
  }

  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var all = cards();
    var card = all[current];
    if (event.key === "j" || event.key === "ArrowDown") { focus(current + 1); }
    else if (event.key === "k" || event.key === "ArrowUp") { focus(current - 1); }
    else if (/^[1-9]$/.test(event.key) && card) {
      var buttons = card.querySelectorAll("button.cat");
      var button = buttons[Number(event.key) - 1];
      if (button) { choose(card, button.value); }
    }
    else if (event.key === "Enter" && card) { decide(card); }
    else if (event.key === "x" && card) {
      card.classList.toggle("selected");
      card.querySelector("input.pick").checked = card.classList.contains("selected");
    }
    else if (event.key === "b") { bulk(); }
    else { return; }
    event.preventDefault();
  });

  queue.addEventListener("submit", function (event) {
    // A click on a category button: the same one action as the keyboard, without a reload.
    var card = event.target.closest(".card");
    if (!card || !event.submitter) { return; }
    event.preventDefault();
    choose(card, event.submitter.value);
    focus(cards().indexOf(card));
    decide(card);
  });

  queue.addEventListener("change", function (event) {
    if (event.target.classList.contains("pick")) {
      event.target.closest(".card").classList.toggle("selected", event.target.checked);
    }
  });

  function poll() {
    fetch(queue.dataset.poll + window.location.search, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var list = document.getElementById("cards");
        var added = 0;
        fresh.querySelectorAll(".card").forEach(function (card) {
          if (!queue.querySelector('.card[data-id="' + card.dataset.id + '"]')) {
            var empty = list.querySelector(".empty");
            if (empty) { empty.remove(); }
            list.appendChild(document.importNode(card, true));
            added += 1;
          }
        });
        if (added) { count(); focus(current); say(added + " new ticket(s) in the queue"); }
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }

  focus(0);
  window.setInterval(poll, Number(queue.dataset.interval || 5000));
})();
