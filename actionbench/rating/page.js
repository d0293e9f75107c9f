// The rating page's only script (served as a file: the Content-Security-Policy admits nothing else).
// Every string from the server goes in with textContent, never as markup.
(function () {
  "use strict";

  var rater = new URLSearchParams(window.location.search).get("rater") || "";
  var state = null;      // the server's last answer: progress and the image on screen
  var answers = {};      // this image's answers so far: {action: "yes"|"no", subject: ...}
  var saving = false;    // one answer in flight at a time; keys pressed meanwhile are ignored

  function el(id) { return document.getElementById(id); }
  function show(id, visible) { el(id).hidden = !visible; }
  function say(message) { el("status").textContent = message; }

  function call(path, body) {
    var options = body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
    };
    return fetch(path, options).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || response.statusText); }
        return data;
      });
    });
  }

  function render(next) {
    state = next;
    answers = {};
    show("who", true);
    el("rater").textContent = next.rater;
    el("progress").max = Math.max(next.total, 1);
    el("progress").value = next.done;
    el("count").textContent = next.done + " of " + next.total + " rated, " + next.left + " left";
    if (!next.item) {
      show("rating", false);
      show("finished", true);
      return;
    }
    show("finished", false);
    show("rating", true);
    el("image").src = next.item.image;
    el("description").textContent = next.item.description;
    el("subject").textContent = next.item.subject;
    var box = el("exemplars");
    box.replaceChildren();
    next.item.exemplars.forEach(function (src, number) {
      var photo = document.createElement("img");
      photo.className = "exemplar";
      photo.src = src;
      photo.alt = "exemplar " + (number + 1);
      box.appendChild(photo);
    });
    mark();
  }

  function current() { return answers.action === undefined ? "action" : "subject"; }

  function mark() {
    ["action", "subject"].forEach(function (question) {
      var box = el("q-" + question);
      box.classList.toggle("current", question === current());
      box.querySelectorAll("button").forEach(function (button) {
        button.classList.toggle("chosen", answers[question] === button.getAttribute("data-answer"));
      });
    });
  }

  function submit(action, subject) {
    saving = true;
    say("Saving…");
    call("api/answer", {rater: rater, image: state.item.id, action: action, subject: subject})
      .then(function (next) { say("Saved."); render(next); })
      .catch(function (error) { say("Not saved: " + error.message); answers = {}; mark(); })
      .then(function () { saving = false; });
  }

  function give(question, answer) {
    if (saving || !state || !state.item) { return; }
    answers[question] = answer;
    mark();
    if (answers.action !== undefined && answers.subject !== undefined) {
      submit(answers.action, answers.subject);
    }
  }

  function skip() {
    if (saving || !state || !state.item) { return; }
    submit("skip", "skip");
  }

  function back() {
    if (saving) { return; }
    delete answers.action;
    delete answers.subject;
    mark();
  }

  document.addEventListener("keydown", function (event) {
    if (event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var key = event.key.toLowerCase();
    if (key === "y") { give(current(), "yes"); }
    else if (key === "n") { give(current(), "no"); }
    else if (key === "s") { skip(); }
    else if (key === "backspace") { back(); }
    else { return; }
    event.preventDefault();
  });

  document.querySelectorAll("button.answer").forEach(function (button) {
    button.addEventListener("click", function () {
      give(button.getAttribute("data-question"), button.getAttribute("data-answer"));
    });
  });
  el("skip").addEventListener("click", skip);
  el("back").addEventListener("click", back);

  el("name-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var name = el("name-input").value.trim();
    if (name) { window.location.search = "?rater=" + encodeURIComponent(name); }
  });

  if (!rater) {
    show("ask-name", true);
    el("name-input").focus();
  } else {
    call("api/state?rater=" + encodeURIComponent(rater)).then(render)
      .catch(function (error) { say("Cannot load: " + error.message); });
  }
})();
