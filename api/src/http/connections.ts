// Closing without waiting on idle clients. Node's server.close() ends the keep-alive connections
// idle at that moment, but not one that never sent a request (a client's pre-opened socket) nor
// one whose request finishes afterwards: either holds the close until the client gives up or
// the keep-alive timeout (72 s) passes, far beyond a pod's termination grace period. Once
// closing, a connection ends as soon as it has no request in progress, so a close waits for the
// requests in flight and nothing else.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionTracker {
  /** Ends the connections without a request in progress now, and the others when theirs end. */
  closeWhenIdle(): void;
  /** The connections open now. */
  openConnections(): number;
}

export function trackConnections(server: Server): ConnectionTracker {
  const inProgress = new Map<Socket, number>();
  let closing = false;
  server.on('connection', (socket: Socket) => {
    inProgress.set(socket, 0);
    socket.once('close', () => inProgress.delete(socket));
  });
  server.on('request', (req, res) => {
    const socket = req.socket;
    inProgress.set(socket, (inProgress.get(socket) ?? 0) + 1);
    res.once('close', () => {
      // A client that aborts closes the socket before its response: nothing left to track.
      if (!inProgress.has(socket)) return;
      const left = Math.max(0, (inProgress.get(socket) ?? 1) - 1);
      inProgress.set(socket, left);
      // end(), not destroy(): the response may still be in the socket's write buffer.
      if (closing && left === 0) socket.end();
    });
  });
  return {
    closeWhenIdle() {
      closing = true;
      for (const [socket, n] of inProgress) if (n === 0) socket.destroy();
    },
    openConnections: () => inProgress.size,
  };
}
