/*! Frontdesk embed: makes <form data-frontdesk-form="ID"> and Webflow forms (.w-form) submit to
 * Frontdesk. Dependency-free; see docs/embedding.md. */
(function () {
  "use strict";
  var me = document.currentScript;
  var scriptOrigin = me && me.src ? new URL(me.src, location.href).origin : location.origin;
  var FAIL = "Oops! Something went wrong while submitting the form.";
  var DONE = "Thank you! Your submission has been received!";

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function fieldName(el) {
    return el.getAttribute("name") || el.getAttribute("data-name") || "";
  }

  // Element of the form's wrapper (Webflow: the .w-form around the form) matching one of `selectors`.
  function box(form, selectors) {
    var scope = form.closest(".w-form") || form.parentNode;
    return (scope && scope.querySelector(selectors)) || null;
  }

  function show(el, on) {
    if (el) el.style.display = on ? "block" : "none";
  }

  function ensureBox(form, selectors, cls, role) {
    var el = box(form, selectors);
    if (!el) {
      el = document.createElement("div");
      el.className = cls;
      el.setAttribute("role", role);
      el.style.display = "none";
      form.parentNode.insertBefore(el, form.nextSibling);
    }
    return el;
  }

  function fill(el, text) {
    // A box the site wrote keeps its own words; one we made (or an empty one) gets the server's.
    if (el && (el.hasAttribute("data-frontdesk-made") || !el.textContent.trim())) {
      el.setAttribute("data-frontdesk-made", "");
      el.textContent = text;
    }
  }

  // The selected intl-tel-input country of `input`, upper case, or "" (v17 to v29: the globals
  // object and the getter were renamed on the way).
  function itiCountry(input) {
    var g = window.intlTelInputGlobals || window.intlTelInput;
    var iti = g && g.getInstance ? g.getInstance(input) : null;
    var get = iti && (iti.getSelectedCountry || iti.getSelectedCountryData);
    var data = get ? get.call(iti) : null;
    return data && data.iso2 ? String(data.iso2).toUpperCase() : "";
  }

  // --- Where the inquiry came from -------------------------------------------------------------
  // The page's URL, title and standard utm_* parameters, as reserved "_" fields no form field can
  // be named: a cross-origin fetch sends at most the origin as Referer. The server keeps the path
  // only for the form's own origins and never puts any of it in a mail header.
  var UTM_KEYS = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];

  function sourceFields() {
    var list = [["_source_url", location.href], ["_source_title", document.title || ""]];
    var params = new URLSearchParams(location.search);
    UTM_KEYS.forEach(function (key) {
      var value = params.get(key);
      if (value) list.push(["_" + key, value]);
    });
    return list;
  }
  // --- end: where the inquiry came from ------------------------------------------------------------

  function note(input, cls) {
    var id = (input.id || fieldName(input)) + "-" + cls;
    var el = document.getElementById(id);
    if (!el) {
      el = document.createElement("div");
      el.id = id;
      el.className = "frontdesk-" + cls;
      el.setAttribute("aria-live", "polite");
      // Beside intl-tel-input the input sits inside its wrapper: write after the wrapper.
      var anchor = input.closest(".iti") || input;
      anchor.parentNode.insertBefore(el, anchor.nextSibling);
    }
    return el;
  }

  // ---- Typed fields (date, time, number, radio, checkbox_group): mirrors fieldtypes.py; the server decides.
  var NATIVE = { date: 1, time: 1, number: 1 };

  // Native type (Webflow writes type=text) and min/max/step from the definition.
  function applyTypes(def, controls) {
    (def.fields || []).forEach(function (f) {
      if (NATIVE[f.type]) controls.forEach(function (el) {
        if (fieldName(el) !== f.name || el.tagName !== "INPUT") return;
        if (el.type === "text") el.type = f.type;
        if (f.min != null) el.setAttribute("min", f.min);
        if (f.max != null) el.setAttribute("max", f.max);
        if (f.type === "number") el.setAttribute("step", f.step != null ? f.step : "any");
      });
    });
  }

  function isDate(t) {
    if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(t)) return false;
    var p = t.split("-").map(Number), d = new Date(Date.UTC(p[0], p[1] - 1, p[2]));
    return d.getUTCMonth() === p[1] - 1 && d.getUTCDate() === p[2];
  }

  // Decimal text as a BigInt times 10^n: exact, as decimal.Decimal.
  function scaled(t, n) {
    var parts = t.replace("-", "").split(".");
    var v = BigInt(parts[0] + ((parts[1] || "") + "0".repeat(n)).slice(0, n));
    return t.charAt(0) === "-" ? -v : v;
  }

  function numberCode(v, f) {
    if (!/^-?[0-9]{1,30}(\.[0-9]{1,30})?$/.test(v)) return "number_invalid";
    if (typeof BigInt !== "function") return "";
    var n = Math.max.apply(null, [v, f.min, f.max, f.step].map(function (t) {
      return t && t.indexOf(".") >= 0 ? t.length - t.indexOf(".") - 1 : 0;
    }));
    var x = scaled(v, n), zero = BigInt(0);
    if (f.min != null && x < scaled(f.min, n)) return "number_too_small";
    if (f.max != null && x > scaled(f.max, n)) return "number_too_large";
    var step = f.step != null ? scaled(f.step, n) : zero;
    return step > zero && (x - (f.min != null ? scaled(f.min, n) : zero)) % step !== zero ? "number_step" : "";
  }

  // The code the server would give one field's posted values, or "".
  function typedCode(f, values) {
    values = values.map(function (v) { return v.trim(); }).filter(Boolean);
    var v = values[0], low = f.min && v < f.min, high = f.max && v > f.max;
    if (!v) return "";
    if (f.options && f.options.length && f.type !== "select") {
      return values.every(function (x) { return f.options.indexOf(x) >= 0; }) ? "" : "invalid_option";
    }
    if (f.type === "date") return !isDate(v) ? "invalid_date" : low ? "date_too_early" : high ? "date_too_late" : "";
    if (f.type === "time") {
      return !/^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(v) ? "invalid_time" : low ? "time_too_early" : high ? "time_too_late" : "";
    }
    return f.type === "number" ? numberCode(v, f) : "";
  }

  // [{field, code, message}] for pairs ([name, value]) the server would refuse.
  function typedErrors(def, pairs) {
    var codes = def.messages.codes || {}, errors = [];
    def.fields.forEach(function (f) {
      var code = typedCode(f, pairs.filter(function (p) { return p[0] === f.name; }).map(function (p) { return p[1]; }));
      if (code) errors.push({ field: f.name, code: code, message: codes[code] || code });
    });
    return errors;
  }
  // ---- End of typed fields.

  // ---- ALTCHA: the proof-of-work CAPTCHA Frontdesk issues itself (docs/embedding.md) ----------
  // The widget (<altcha-widget>, vendored and served by the forms service) fetches a challenge
  // from the form's challenge_url, solves it in workers and keeps the payload in a hidden input;
  // the script posts that payload as the form's response_field.
  var altchaLoads = {};

  // Load the widget's script once per address; resolves once <altcha-widget> is defined.
  function altchaLoad(src) {
    if (!altchaLoads[src]) {
      altchaLoads[src] = new Promise(function (resolve, reject) {
        if (window.customElements && customElements.get("altcha-widget")) { resolve(); return; }
        var tag = document.createElement("script");
        tag.src = src;
        tag.async = true;
        tag.onload = function () { resolve(); };
        tag.onerror = reject;
        document.head.appendChild(tag);
      });
    }
    return altchaLoads[src];
  }

  // Show the widget in `form` (the site's own <altcha-widget>, else one placed before the submit
  // button); returns { el, field } for altchaPayload and altchaReset.
  function altchaShow(form, captcha) {
    var el = form.querySelector("altcha-widget");
    if (!el) {
      el = document.createElement("altcha-widget");
      var button = form.querySelector("[type=submit]");
      if (button) button.parentNode.insertBefore(el, button); else form.appendChild(el);
    }
    el.setAttribute("challenge", captcha.challenge_url);
    el.setAttribute("name", captcha.response_field);
    // The work starts when the visitor starts filling the form, so it is done by "Send".
    if (!el.hasAttribute("auto")) el.setAttribute("auto", "onfocus");
    altchaLoad(captcha.script_url).catch(function () { /* the post is refused; the form says so */ });
    return { el: el, field: captcha.response_field };
  }

  function altchaInput(altcha) {
    return altcha.el.querySelector('input[name="' + altcha.field + '"]');
  }

  // The payload to post: at once when solved, else once the widget has solved a challenge
  // ("" when it fails: the server then refuses the post with captcha_failed).
  function altchaPayload(altcha) {
    if (!altcha) return Promise.resolve(null);
    var input = altchaInput(altcha);
    if (input && input.value) return Promise.resolve(input.value);
    var el = altcha.el;
    function current() { return typeof el.getState === "function" ? el.getState() : ""; }
    return new Promise(function (resolve) {
      var settled = false;
      function done(payload) {
        if (settled) return;
        settled = true;
        el.removeEventListener("verified", verified);
        el.removeEventListener("statechange", changed);
        resolve(payload);
      }
      function verified(event) {
        var found = altchaInput(altcha);
        done((event.detail && event.detail.payload) || (found && found.value) || "");
      }
      function changed(event) {
        var now = event.detail && event.detail.state;
        // A failed run may be followed by the widget's own retry: give up only if it stays failed.
        if (now === "error" || now === "expired") {
          setTimeout(function () { if (/^(error|expired)$/.test(current())) done(""); }, 500);
        }
      }
      el.addEventListener("verified", verified);
      el.addEventListener("statechange", changed);
      // Clicking "Send" focuses the form, which may have started the work ("auto: onfocus"): ask
      // for it only when nothing runs, or two runs would race.
      setTimeout(function () {
        var now = current();
        if (now === "verified") verified({});
        else if (now !== "verifying" && typeof el.verify === "function") el.verify();
      }, 100);
    });
  }

  // A spent or refused solution is never sent again: the widget solves a new challenge.
  function altchaReset(altcha) {
    if (altcha && typeof altcha.el.reset === "function") altcha.el.reset();
  }
  // ---- end of ALTCHA ---------------------------------------------------------------------------

  function enhance(form) {
    if (form.__frontdesk) return;
    var wrapper = form.closest(".w-form");
    var formId = form.getAttribute("data-frontdesk-form") ||
      (wrapper && wrapper.getAttribute("data-frontdesk-form"));
    if (!formId) return;
    var api = (form.getAttribute("data-frontdesk-api") || scriptOrigin).replace(/\/+$/, "");
    var base = api + "/v1/forms/" + encodeURIComponent(formId);
    var state = { key: newKey(), sentBody: null, busy: false, token: null, phones: [], altcha: null, definition: null };
    form.__frontdesk = state;
    form.setAttribute("novalidate", "");

    function loadDefinition() {
      state.token = fetch(base, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (d && d.fields) d.fields.forEach(function (f) { if (f.type === "phone") watchPhone(f.name); });
          if (d && d.fields) { state.definition = d; applyTypes(d, controls()); }
          if (d && d.captcha && d.captcha.provider === "altcha" && !state.altcha) state.altcha = altchaShow(form, d.captcha);
          return d && d.token ? d.token : null;
        })
        .catch(function () { return null; });
    }

    function controls() {
      return Array.prototype.filter.call(form.elements, function (el) {
        return fieldName(el) && !el.disabled && !/^(submit|button|reset|image|file)$/.test(el.type) &&
          !el.closest("altcha-widget"); // its payload is added by send()
      });
    }

    function watchPhone(name) {
      controls().forEach(function (input) {
        if (fieldName(input) !== name || state.phones.indexOf(input) >= 0) return;
        state.phones.push(input);
        var timer = 0, seq = 0;
        function check() {
          var number = input.value.trim();
          var out = note(input, "phone-status");
          if (!number) { out.textContent = ""; return; }
          var n = ++seq;
          var q = "?number=" + encodeURIComponent(number) + "&form=" + encodeURIComponent(formId);
          var region = itiCountry(input);
          if (region) q += "&region=" + region;
          fetch(api + "/v1/phone/check" + q, { headers: { Accept: "application/json" } })
            .then(function (r) { return r.json(); })
            .then(function (v) {
              if (n !== seq) return; // a newer keystroke has asked again
              out.textContent = v.message;
              out.className = "frontdesk-phone-status " + (v.valid ? "is-valid" : v.accepted ? "is-unverified" : "is-invalid");
            })
            .catch(function () { if (n === seq) out.textContent = ""; });
        }
        function later() { clearTimeout(timer); timer = setTimeout(check, 400); }
        input.addEventListener("input", later);
        input.addEventListener("countrychange", later);
      });
    }

    function clearErrors() {
      form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
      form.querySelectorAll(".frontdesk-field-error").forEach(function (el) { el.textContent = ""; });
    }

    function fieldErrors(errors) {
      var first = null;
      errors.forEach(function (e) {
        var input = controls().filter(function (el) { return fieldName(el) === e.field; })[0];
        if (!input) return;
        var out = note(input, "field-error");
        out.textContent = e.message;
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", out.id);
        // The server's word replaces the live check's, so the reason is not shown twice.
        if (state.phones.indexOf(input) >= 0) note(input, "phone-status").textContent = "";
        first = first || input;
      });
      if (first) first.focus();
    }

    function entries() {
      var data = new FormData();
      var list = [];
      controls().forEach(function (el) {
        if ((el.type === "checkbox" || el.type === "radio") && !el.checked) return;
        var values = el.type === "select-multiple"
          ? Array.prototype.map.call(el.selectedOptions, function (o) { return o.value; })
          : [el.value];
        values.forEach(function (v) { data.append(fieldName(el), v); list.push([fieldName(el), v]); });
      });
      state.phones.forEach(function (input) {
        var region = itiCountry(input);
        if (region) {
          data.append(fieldName(input) + "_country", region);
          list.push([fieldName(input) + "_country", region]);
        }
      });
      return { data: data, text: JSON.stringify(list) };
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      // Capture phase + stopping here keeps Webflow's own handler (delegated on document) out.
      event.stopImmediatePropagation();
      if (state.busy) return; // a double click is one submission
      send();
    }, true);

    function send() {
      var done = ensureBox(form, ".w-form-done, [data-frontdesk-done], .frontdesk-done", "frontdesk-done", "status");
      var fail = ensureBox(form, ".w-form-fail, [data-frontdesk-fail], .frontdesk-fail", "frontdesk-fail", "alert");
      var button = form.querySelector("[type=submit]");
      var label = button ? (button.tagName === "INPUT" ? button.value : button.textContent) : "";
      var wait = (button && button.getAttribute("data-wait")) || "Please wait...";
      function setLabel(text) {
        if (!button) return;
        if (button.tagName === "INPUT") button.value = text; else button.textContent = text;
      }
      var body = entries();
      // Typed fields the server would refuse: shown at once, nothing sent.
      var local = state.definition ? typedErrors(state.definition, JSON.parse(body.text)) : [];
      if (local.length) {
        clearErrors();
        fieldErrors(local);
        fill(fail, state.definition.messages.error || FAIL);
        show(fail, true);
        return;
      }
      // Same inquiry, same key (a retry is deduplicated); a different one gets a new key.
      if (state.sentBody !== null && state.sentBody !== body.text) state.key = newKey();
      state.sentBody = body.text;
      state.busy = true;
      show(done, false);
      show(fail, false);
      clearErrors();
      setLabel(wait);
      // Added after the retry key's text is taken: the same inquiry from a changed URL is one.
      sourceFields().forEach(function (pair) { body.data.append(pair[0], pair[1]); });
      // The token's promise settles after the definition has shown any CAPTCHA widget.
      Promise.resolve(state.token).then(function (token) {
        if (token) body.data.append("_token", token);
        return altchaPayload(state.altcha);
      }).then(function (payload) {
        if (payload !== null) body.data.append(state.altcha.field, payload);
        return fetch(base + "/submissions", {
          method: "POST",
          body: body.data,
          headers: { Accept: "application/json", "Idempotency-Key": state.key },
        });
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (json) {
          return { status: r.status, json: json };
        });
      }).then(function (res) {
        if (res.status >= 200 && res.status < 300 || /^captcha_/.test(res.json.code || "")) {
          altchaReset(state.altcha);
        }
        if (res.status >= 200 && res.status < 300) {
          state.key = newKey();
          state.sentBody = null;
          loadDefinition();
          var redirect = form.getAttribute("data-redirect");
          if (redirect) { location.href = redirect; return; }
          form.reset();
          show(form, false);
          fill(done, res.json.message || DONE);
          show(done, true);
          return;
        }
        if (res.status === 422 && res.json.errors) fieldErrors(res.json.errors);
        fill(fail, res.json.message || FAIL);
        show(fail, true);
      }, function () {
        fill(fail, FAIL);
        show(fail, true);
      }).then(idle, idle);
      function idle() {
        state.busy = false;
        setLabel(label);
      }
    }

    controls().forEach(function (el) {
      if (el.type === "tel") watchPhone(fieldName(el));
    });
    loadDefinition();
  }

  function scan(root) {
    (root || document).querySelectorAll("form[data-frontdesk-form], .w-form form").forEach(enhance);
  }

  window.Frontdesk = { scan: scan, enhance: enhance };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { scan(); });
  else scan();
})();
