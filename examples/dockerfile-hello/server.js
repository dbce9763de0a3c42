// Answers every request with the contents of message.txt, so a test can
// deploy a visibly different version by editing that one file.
// Dynamic imports keep this file valid as CommonJS and as an ES module, since
// Node picks by the nearest package.json and procfile-hello has none.
Promise.all([import('node:http'), import('node:fs')]).then(([http, fs]) => {
  // Processes start in the app's root directory, as on Heroku.
  const message = fs.readFileSync('message.txt', 'utf8').trim();
  const port = Number(process.env.PORT || 5000);

  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(message);
  });
  server.listen(port, () => console.log(`listening on port ${port}`));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
});
