/**
 * The reference for the HTTP figures: plain node:http with no framework, forked by bench/http.ts.
 * GET answers {}; POST reads the body, JSON.parses it and answers a constant predict-sized JSON
 * reply. The ratio POST/GET is what parsing a predict body costs with nothing else around it,
 * an upper bound for any JSON /predict vs an empty route on the same machine.
 *   → { type: 'ready', port } once listening; exits on disconnect.
 */
import http from 'node:http';

const reply = JSON.stringify({
  model: { name: 'bench-digits', version: 1 },
  runtime: 'engine',
  outputs: [[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]],
  classes: [3],
});
let sink = 0;
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json; charset=utf-8');
  if (req.method !== 'POST') {
    res.end('{}');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { inputs: number[][] };
    sink += body.inputs.length; // keeps the parse from being optimized away
    res.end(reply);
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.send?.({ type: 'ready', port: address.port, sink });
});
process.on('disconnect', () => server.close(() => process.exit(0)));
