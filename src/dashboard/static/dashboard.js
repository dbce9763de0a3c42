// Live logs: every <pre data-stream> follows its Server-Sent Events URL. The
// page reads without this (the server renders what there is); this only adds
// lines as they come. A stream that reconnects (a background tab woken up, a
// proxy timeout) starts over, so the text is replaced, not appended twice.
(function () {
  function follow(pre) {
    var source = new EventSource(pre.dataset.stream);
    var fresh = true;
    source.addEventListener('open', function () {
      fresh = true;
    });
    source.addEventListener('line', function (e) {
      if (fresh) {
        pre.textContent = '';
        fresh = false;
      }
      var atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
      pre.textContent += e.data + '\n';
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    });
    // Access was taken away (token revoked, user or collaborator removed): say so, and do not reconnect.
    source.addEventListener('revoked', function (e) {
      source.close();
      pre.textContent += ' !     ' + e.data + '; this session is closed\n';
    });
    source.addEventListener('end', function (e) {
      source.close();
      var status = pre.dataset.status && document.getElementById(pre.dataset.status);
      if (status && e.data) {
        status.textContent = e.data;
        status.className = 'result ' + e.data;
      }
    });
  }
  function start() {
    document.querySelectorAll('pre[data-stream]').forEach(follow);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
