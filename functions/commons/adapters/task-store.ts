/**
 * Tasks in DynamoDB, one item each under `TASK#<id>`. Every write is conditional on the version that was
 * read, so two writers (a retried poll, a late copy) can never interleave; `transition` is the single
 * place where a task changes status, so it is also where a change can later be published.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { applyChange, isAlreadyApplied, type Task, type TaskChange } from '../domain/task.ts';
import { InvalidTransitionError } from '../errors.ts';

export interface TransitionResult {
  task: Task;
  /** False when the task had already reached that status: the change was a repeat and nothing was written. */
  changed: boolean;
}

export interface TaskStore {
  create(task: Task): Promise<void>;
  get(id: string): Promise<Task | undefined>;
  transition(id: string, change: TaskChange): Promise<TransitionResult>;
}

const MAX_WRITE_ATTEMPTS = 5;
const taskKey = (id: string) => ({ pk: `TASK#${id}` });

export class DynamoDbTaskStore implements TaskStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async create(task: Task): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...taskKey(task.id), kind: 'task', ...task },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(id: string): Promise<Task | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: taskKey(id), ConsistentRead: true }),
    );
    if (!Item || Item.kind !== 'task') return undefined;
    const { pk: _pk, kind: _kind, ...task } = Item;
    return task as Task;
  }

  async transition(id: string, change: TaskChange): Promise<TransitionResult> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(id);
      if (!current) throw new InvalidTransitionError(`Task ${id} does not exist.`);
      if (isAlreadyApplied(current, change)) return { task: current, changed: false };
      const next = applyChange(current, change, this.clock().toISOString());
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...taskKey(id), kind: 'task', ...next },
            ConditionExpression: '#version = :read',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':read': current.version },
          }),
        );
        return { task: next, changed: true };
      } catch (error) {
        // Someone else wrote in between: read again and decide afresh (their write may make ours a repeat).
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= MAX_WRITE_ATTEMPTS) throw error;
      }
    }
  }
}
