// Progress and results of long work (install, certificates, backups, sync).
import { arg } from './args.ts';
import { method } from './method.ts';
import { MailError } from '../core/errors.ts';
import { page, pageArgs } from './paging.ts';
import { readText } from '../sys/fs.ts';
import { readJob, listJobs, isJobId, jobLog } from '../jobs/store.ts';

const jobId = (doc: string) =>
  arg.text(doc, 32).checked((field, value) => {
    if (typeof value !== 'string' || !isJobId(value)) throw new MailError('invalid_argument', 'is not a job id', field);
    return value;
  });

export const jobMethods = [
  method({
    name: 'job_status',
    access: 'read',
    doc: 'State, progress, result and last log lines of a job',
    cli: ['job', 'status'],
    args: { id: jobId('job id').word() },
    handler: ({ id }) => {
      const job = readJob(id);
      if (!job) throw new MailError('not_found', `no job ${id}`, 'id');
      return { ...job, log: (readText(jobLog(id)) ?? '').split('\n').filter((l) => l !== '').slice(-20) };
    },
    text: (j) => `${j.id} ${j.kind}: ${j.state} ${j.progress}% ${j.phase}${j.error ? `\n${j.error.error}` : ''}`,
  }),
  method({
    name: 'job_list',
    access: 'read',
    doc: 'Recent jobs, newest first (paged)',
    cli: ['job', 'list'],
    args: pageArgs,
    handler: (a) => page(listJobs(), (j) => `${j.kind} ${j.state}`, a),
    text: (r) => r.items.map((j) => `${j.id}\t${j.kind}\t${j.state}\t${j.progress}%\t${j.phase}`).join('\n'),
  }),
];
