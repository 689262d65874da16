/**
 * Email through nodemailer. TLS: port 465 is implicit TLS; otherwise STARTTLS
 * is required when require_tls is on or credentials are set (a password is
 * never sent in clear), and used when the server offers it.
 */
import nodemailer from 'nodemailer';
import type { Message } from '../event.ts';
import { buildPayload } from '../payload.ts';
import { plainText, title } from '../format.ts';
import { secret, type Channel } from './channel.ts';

export interface EmailConfig {
  smtp_host: string;
  smtp_port: number;
  from: string;
  to: string | string[];
  username_env?: string;
  password_env?: string;
  require_tls: boolean;
}

export class EmailChannel implements Channel {
  readonly name = 'email' as const;
  private readonly cfg: EmailConfig;

  constructor(cfg: EmailConfig) {
    this.cfg = cfg;
  }

  async send(m: Message, timeoutMs: number): Promise<void> {
    const c = this.cfg;
    const user = secret(c.username_env);
    const pass = secret(c.password_env);
    const creds = user !== undefined || pass !== undefined;
    const transport = nodemailer.createTransport({
      host: c.smtp_host,
      port: c.smtp_port,
      secure: c.smtp_port === 465,
      requireTLS: c.require_tls || creds,
      ...(creds ? { auth: { user: user ?? '', pass: pass ?? '' } } : {}),
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    const timer = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs + 1000).unref());
    try {
      await Promise.race([
        transport.sendMail({
          from: c.from,
          to: c.to,
          subject: title(m),
          text: plainText(m, 100_000),
          headers: { 'X-Breakwater-Event': m.event, 'X-Breakwater-Delivery': m.id },
          attachments: [{ filename: 'event.json', content: JSON.stringify(buildPayload(m), null, 2), contentType: 'application/json' }],
        }),
        timer,
      ]);
    } finally {
      transport.close();
    }
  }
}
