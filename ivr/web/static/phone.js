// The web phone: one WebSocket per call (ivr/web/app.py says what each message means).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
  const state = {
    ws: null, ready: null, audio: null, source: null, playSeq: 0, buffers: new Map(),
    played: [], playing: null, node: null, path: [], mic: null, micOn: false, inCall: false,
    prompt: null, demoCallers: 0,
  };
  window.phone = state; // read by the browser tests

  // -- the map ------------------------------------------------------------------------------
  const mapNodes = new Map();
  const mapEdges = new Map();
  fetch("/map.svg").then((r) => r.ok ? r.text() : r.text().then((t) => { throw new Error(t); }))
    .then((svg) => {
      $("map").innerHTML = svg;
      for (const g of $("map").querySelectorAll("g.node, g.edge")) {
        const title = g.querySelector("title");
        if (!title) continue;
        (g.classList.contains("node") ? mapNodes : mapEdges).set(title.textContent.trim(), g);
      }
    })
    .catch((e) => { $("map").textContent = "no map: " + e.message; });

  function light(node) {
    if (!state.ready || node === state.node) return;
    const id = state.ready.nodes[node];
    const previous = state.node && state.ready.nodes[state.node];
    for (const g of mapNodes.values()) g.classList.remove("current");
    const g = id && mapNodes.get(id);
    if (g) {
      g.classList.add("current", "visited");
      g.scrollIntoView({ block: "center", inline: "center" });
    }
    if (previous && id) {
      const edge = mapEdges.get(previous + "->" + id);
      if (edge) edge.classList.add("taken");
    }
    state.node = node;
    state.path.push(node);
    $("current-node").textContent = (state.ready.titles[node] || node) + " (" + node + ")";
    document.body.dataset.node = node;
  }

  // -- prompts ------------------------------------------------------------------------------
  function stopPrompt() {
    state.playSeq++;
    if (state.source) { try { state.source.stop(); } catch (e) { /* already ended */ } }
    state.source = null;
    state.playing = null;
  }

  async function play(url) {
    stopPrompt();
    const seq = state.playSeq;
    state.playing = url;
    if (!url || !state.audio) return;
    let buffer = state.buffers.get(url);
    if (!buffer) {
      const data = await (await fetch(url)).arrayBuffer();
      buffer = await state.audio.decodeAudioData(data);
      state.buffers.set(url, buffer);
    }
    if (seq !== state.playSeq) return; // stopped (barge-in) while it was fetched
    const source = state.audio.createBufferSource();
    source.buffer = buffer;
    source.connect(state.audio.destination);
    source.onended = () => { if (state.source === source) { state.source = null; state.playing = null; } };
    source.start();
    state.source = source;
    state.played.push(url);
  }

  // -- logs ---------------------------------------------------------------------------------
  function line(list, t, text) {
    const li = document.createElement("li");
    const time = document.createElement("span");
    time.className = "t";
    time.textContent = t.toFixed(2) + "s";
    li.append(time, document.createTextNode(text));
    $(list).append(li);
    li.scrollIntoView({ block: "nearest" });
  }

  function describeRecord(r) {
    return Object.entries(r).filter(([k]) => k !== "type" && k !== "state")
      .map(([k, v]) => k + "=" + v).join(" ");
  }

  // -- the call -----------------------------------------------------------------------------
  function setInCall(on) {
    state.inCall = on;
    $("call").disabled = on;
    $("hangup").disabled = !on;
    $("caller-id").disabled = on;
    $("demo-caller").disabled = on;
    $("mic").disabled = !on;
    for (const b of $("keypad").querySelectorAll("button")) b.disabled = !on;
  }

  function say(text) { $("message").textContent = text; }

  function send(message) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
  }

  // -- the caller ID: free entry, or a demo caller of the back office -----------------------
  const demoCallers = new Map();

  function callerIdProblem(text) {
    const most = (state.ready && state.ready.caller_id_digits) || 20;
    if (!/^[0-9]*$/.test(text)) return "主叫号码只能是数字 · a caller ID is digits only (0-9)";
    if (text.length > most) return "主叫号码最多 " + most + " 位 · a caller ID has at most " + most + " digits";
    return null;
  }

  function showDemo(phone) {
    const c = demoCallers.get(phone);
    const detail = $("demo-detail");
    detail.replaceChildren();
    if (!c) return;
    const pin = document.createElement("b");
    pin.id = "demo-pin";
    pin.textContent = c.pin;
    detail.append(c.case + " · " + c.name + " · " + c.detail + " · 演示密码 demo PIN ", pin,
      " (training data)");
  }

  function loadDemoCallers() {
    fetch("/callers.json").then((r) => r.json()).then((m) => {
      const select = $("demo-caller");
      for (const c of m.callers) {
        demoCallers.set(c.phone, c);
        const option = document.createElement("option");
        option.value = c.phone;
        option.textContent = c.phone + " · " + c.case + " · PIN " + c.pin;
        select.append(option);
      }
      $("demo").hidden = false;
      if (m.problem) $("demo-detail").textContent = m.problem;
      state.demoCallers = m.callers.length;
    }).catch((e) => { $("demo-detail").textContent = "demo callers: " + e.message; });
  }

  function call() {
    if (state.inCall) return;
    const callerId = $("caller-id").value.trim();
    const problem = callerIdProblem(callerId);
    if (problem) { say(problem); return; }
    if (!state.audio) state.audio = new AudioContext();
    state.audio.resume();
    for (const id of ["transcript", "events", "download-links"]) $(id).replaceChildren();
    for (const g of [...mapNodes.values(), ...mapEdges.values()]) g.classList.remove("current", "visited", "taken");
    Object.assign(state, { node: null, path: [], played: [] });
    $("downloads").hidden = true;
    say("");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + "/ws");
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    ws.onmessage = (e) => receive(JSON.parse(e.data));
    ws.onclose = () => { if (state.ws === ws) { stopPrompt(); stopMic(); setInCall(false); state.ws = null; } };
    ws.onopen = () => { send({ type: "call", caller_id: callerId }); setInCall(true); };
  }

  function receive(m) {
    switch (m.type) {
      case "ready":
        state.ready = m;
        $("title").textContent = m.title;
        break;
      case "placed": $("status").textContent = "已接通 connected"; break;
      case "play": state.prompt = m.text; play(m.url); break;
      case "stop": state.prompt = null; stopPrompt(); break;
      case "event":
        light(m.record.state);
        if (m.line) line("transcript", m.t, m.line.trim());
        line("events", m.t, m.record.type + " " + m.record.state + " " + describeRecord(m.record));
        break;
      case "status": $("status").textContent = m.activity + " · " + m.node; break;
      case "mic": state.micOn = m.on; break;  // frames flow from the worklet once it is on
      case "error": case "busy": say(m.error); if (m.type === "busy") $("mic").checked = false; break;
      case "ended": ended(m); break;
    }
  }

  function ended(m) {
    $("status").textContent = "已挂机 ended · " + m.outcome;
    const list = $("download-links");
    for (const [name, url] of Object.entries(m.downloads)) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = url; a.textContent = name; a.download = name; a.id = "download-" + name.replace(".", "-");
      li.append(a);
      list.append(li);
    }
    $("downloads").hidden = false;
    stopMic();
  }

  function hangUp() { send({ type: "hangup" }); stopPrompt(); }

  function press(key) {
    if (!state.inCall) return;
    send({ type: "key", key });
    const button = $("key-" + KEYS.indexOf(key));
    if (button) { button.classList.add("pressed"); setTimeout(() => button.classList.remove("pressed"), 150); }
  }

  // -- the microphone -----------------------------------------------------------------------
  async function micSwitch(on) {
    if (!on) { send({ type: "mic", on: false }); stopMic(); return; }
    if (state.ready && state.ready.speech) { say(state.ready.speech); $("mic").checked = false; return; }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
      const context = new AudioContext({ sampleRate: 16000 });
      await context.audioWorklet.addModule("/static/mic-worklet.js");
      const node = new AudioWorkletNode(context, "pcm16");
      context.createMediaStreamSource(stream).connect(node);
      node.port.onmessage = (e) => {
        if (state.micOn && state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(e.data);
      };
      state.mic = { stream, context, node };
      send({ type: "mic", on: true });
    } catch (e) {
      say("microphone: " + e.message);
      $("mic").checked = false;
    }
  }


  function stopMic() {
    state.micOn = false;
    if (state.mic) {
      state.mic.stream.getTracks().forEach((t) => t.stop());
      state.mic.context.close();
      state.mic = null;
    }
    $("mic").checked = false;
  }

  // -- wiring the page ----------------------------------------------------------------------
  KEYS.forEach((key, i) => {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = key; b.id = "key-" + i; b.dataset.key = key; b.disabled = true;
    b.addEventListener("click", () => press(key));
    $("keypad").append(b);
  });
  $("call").addEventListener("click", call);
  $("hangup").addEventListener("click", hangUp);
  $("mic").addEventListener("change", (e) => micSwitch(e.target.checked));
  $("demo-caller").addEventListener("change", (e) => {
    if (e.target.value) $("caller-id").value = e.target.value;
    showDemo(e.target.value);
  });
  $("caller-id").addEventListener("input", (e) => {
    const picked = $("demo-caller").value;
    if (picked && e.target.value !== picked) { $("demo-caller").value = ""; showDemo(""); }
  });
  document.addEventListener("keydown", (e) => {
    const typing = e.target instanceof Element && e.target.closest("input:not([type=checkbox]), select");
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (KEYS.includes(e.key)) { e.preventDefault(); press(e.key); }
  });
  fetch("/hotline.json").then((r) => r.json()).then((m) => {
    state.ready = m;
    $("title").textContent = m.title;
    if (m.speech) $("mic").title = m.speech;
    $("caller-id").maxLength = m.caller_id_digits;
    if (m.self_service) loadDemoCallers();
  });
})();
