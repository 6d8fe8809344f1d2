"""The page: one request box, a version picker, the DAG with highlighting, and what each attempt got."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>airflow-net: write an Airflow DAG</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
textarea { width: 100%; height: 6rem; font: inherit; padding: .5rem; box-sizing: border-box; }
.row { display: flex; gap: 1rem; align-items: center; margin: .75rem 0; }
button { font: inherit; padding: .4rem 1.2rem; cursor: pointer; }
button[disabled] { opacity: .5; cursor: progress; }
#verdict { padding: .5rem .75rem; border-radius: 4px; display: none; }
#verdict.ok { display: block; background: #e6f4ea; border: 1px solid #9ad0a8; }
#verdict.bad { display: block; background: #fdecea; border: 1px solid #f0a9a0; }
#attempts { font-size: .9rem; }
#attempts li { margin: .25rem 0; }
.code { padding: .75rem; overflow-x: auto; border: 1px solid #ddd; border-radius: 4px; }
.code pre { margin: 0; }
{{CSS}}
</style>
</head>
<body>
<h1>Write an Airflow DAG</h1>
<form id="form">
  <label for="request">What should the DAG do?</label>
  <textarea id="request" name="request" required minlength="3"
    placeholder="Every night at 2am, copy yesterday's orders from Postgres to S3 and then notify Slack."></textarea>
  <div class="row">
    <label for="version">Airflow version</label>
    <select id="version" name="version">{{OPTIONS}}</select>
    <button id="go" type="submit">Generate</button>
    <span id="status" aria-live="polite"></span>
  </div>
</form>
<div id="verdict" role="status"></div>
<div id="code"></div>
<ol id="attempts"></ol>
<script>
const form = document.getElementById("form");
const go = document.getElementById("go");
const status = document.getElementById("status");
const verdict = document.getElementById("verdict");
function text(s) { const d = document.createElement("div"); d.textContent = s; return d.innerHTML; }
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  go.disabled = true;
  status.textContent = "generating and validating...";
  verdict.className = ""; verdict.textContent = "";
  document.getElementById("code").innerHTML = "";
  document.getElementById("attempts").innerHTML = "";
  try {
    const response = await fetch("/v1/dags", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({request: document.getElementById("request").value,
                            airflow_version: document.getElementById("version").value}),
    });
    const data = await response.json();
    if (!response.ok) { throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)); }
    const last = data.attempts[data.attempts.length - 1];
    verdict.className = data.ok ? "ok" : "bad";
    verdict.innerHTML = data.ok
      ? "Valid for Airflow " + text(data.airflow_version || "") + ": " + text(last.message)
      : "Not valid (" + text(last.level + "/" + last.category) + "): " + text(last.message);
    document.getElementById("code").innerHTML = data.html || "<p>No code in the answer.</p>";
    document.getElementById("attempts").innerHTML = data.attempts.map(a =>
      "<li>attempt " + a.number + ": " + (a.ok ? "valid" : text(a.level + "/" + a.category + ": " + a.message)) +
      " (" + a.generate_s.toFixed(1) + " s to write, " + a.validate_s.toFixed(1) + " s to check)</li>").join("");
    status.textContent = "done in " + data.total_s.toFixed(1) + " s";
  } catch (error) {
    verdict.className = "bad";
    verdict.textContent = "Failed: " + error.message;
    status.textContent = "";
  } finally {
    go.disabled = false;
  }
});
</script>
</body>
</html>
"""
