// Self-test of the fake Discord, driven by the REAL, unmodified discord.js 14 Client (gateway + REST).
import { once } from 'node:events';
import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  Client,
  DiscordAPIError,
  EmbedBuilder,
  Events,
  GatewayIntentBits,
  LabelBuilder,
  MessageFlags,
  ModalBuilder,
  PermissionFlagsBits,
  REST,
  Routes,
  SlashCommandBuilder,
  TextInputBuilder,
  TextInputStyle,
  type Interaction,
  type TextChannel,
} from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { makePng } from './fal-fixtures.js';
import { startFakeDiscord, type FakeChannel, type FakeDiscord, type FakeGuild } from './discord-server.js';

let fake: FakeDiscord;
let client: Client;
let guild: FakeGuild;
let general: FakeChannel;
let art: FakeChannel;
let locked: FakeChannel;
const extraClients: Client[] = [];

let handler: ((interaction: Interaction) => Promise<void>) | undefined;
const unexpected: Interaction[] = [];

/** Runs `fn` on the next interaction the client receives; resolves/rejects with its outcome. */
function handleNext<T>(fn: (interaction: Interaction) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    handler = async (interaction) => {
      handler = undefined;
      try {
        resolve(await fn(interaction));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    };
  });
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function textChannel(id: string): TextChannel {
  const channel = client.channels.cache.get(id);
  if (!channel || !channel.isTextBased() || channel.isDMBased()) throw new Error(`channel ${id} not cached`);
  return channel as TextChannel;
}

beforeAll(async () => {
  fake = await startFakeDiscord({ botUser: { username: 'Atelier' } });
  guild = fake.guild({
    name: 'Atelier Test',
    channels: [{ name: 'general' }, { name: 'art' }, { name: 'locked', botCanSend: false }],
    roles: [{ name: 'Curators' }],
  });
  [general, art, locked] = guild.channels as [FakeChannel, FakeChannel, FakeChannel];
  client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiUrl } });
  client.on(Events.InteractionCreate, (interaction) => {
    const current = handler;
    if (current) void current(interaction);
    else unexpected.push(interaction);
  });
  const ready = once(client, Events.ClientReady);
  await client.login(fake.token);
  await ready;
});

afterAll(async () => {
  for (const extra of extraClients) await extra.destroy();
  await client?.destroy();
  await fake?.close();
});

// The fake's self-test is one scenario: a client logs in, commands are registered, interactions use
// them. Its steps run in the order written, whatever order the rest of the suite runs in.
describe('fake discord', { shuffle: false }, () => {
  describe('fake discord: gateway and login', () => {
    it('logs the real client in: READY, GUILD_CREATE, IDENTIFY recorded', () => {
      expect(client.isReady()).toBe(true);
      expect(client.user?.id).toBe(fake.botUser.id);
      expect(client.user?.bot).toBe(true);
      expect(client.application?.id).toBe(fake.applicationId);
      const cached = client.guilds.cache.get(guild.id);
      expect(cached?.name).toBe('Atelier Test');
      expect(cached?.channels.cache.map((c) => c.name).sort()).toEqual(['art', 'general', 'locked']);
      expect(cached?.members.me?.id).toBe(fake.botUser.id);
      expect(cached?.roles.everyone.permissions.has(PermissionFlagsBits.SendMessages)).toBe(true);

      expect(fake.identify?.intents).toBe(GatewayIntentBits.Guilds);
      expect(fake.identify?.token).toBe(fake.token);
      expect(fake.gatewayConnections[0]?.url).toBe('/?v=10&encoding=json');
      const gatewayBot = fake.requests.find((r) => r.route === 'gateway-bot');
      expect(gatewayBot?.headers['authorization']).toBe(`Bot ${fake.token}`);
      expect(gatewayBot?.status).toBe(200);
    });

    it('rejects a wrong token over REST (TokenInvalid) and over the gateway (close 4004)', async () => {
      const bad = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiUrl } });
      extraClients.push(bad);
      expect(await rejectionOf(bad.login('wrong-token'))).toMatchObject({ code: 'TokenInvalid' });

      const rest = new REST({ api: fake.apiUrl }).setToken('wrong-token');
      expect(await rejectionOf(rest.get(Routes.user('@me')))).toMatchObject({ status: 401 });

      const ws = new WebSocket(`${fake.gatewayUrl}/?v=10&encoding=json`);
      const [hello] = (await once(ws, 'message')) as [Buffer];
      expect(JSON.parse(hello.toString())).toMatchObject({ op: 10, d: { heartbeat_interval: 41250 } });
      ws.send(JSON.stringify({ op: 2, d: { token: 'wrong-token', intents: 1, properties: {} } }));
      const [code] = (await once(ws, 'close')) as [number];
      expect(code).toBe(4004);
    });

    it('answers REST with JSON and records requests; serves users, application and channels', async () => {
      const app = await client.application!.fetch();
      expect(app.id).toBe(fake.applicationId);
      const channel = await client.channels.fetch(general.id, { force: true });
      expect(channel?.id).toBe(general.id);
      const alice = fake.defaultUser();
      const user = await client.users.fetch(alice.id, { force: true });
      expect(user.username).toBe('alice');
      const last = fake.requests[fake.requests.length - 1];
      expect(last).toMatchObject({ method: 'GET', path: `/users/${alice.id}`, route: 'get-user', status: 200 });
    });

    it('survives op 7 RECONNECT: the client RESUMEs and gets events', async () => {
      const identifies = fake.identifyHistory.length;
      const resumed = once(client, Events.ShardResume);
      fake.reconnectClients();
      await resumed;
      expect(fake.resumes.at(-1)?.ok).toBe(true);
      expect(fake.identifyHistory.length).toBe(identifies);
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await interaction.reply('after resume');
      });
      const h = fake.slashCommand({ name: 'ping' });
      await seen;
      expect((await h.waitForOriginal()).content).toBe('after resume');
    });
  });

  /** The commands the interaction tests use (registered to the test guild). */
  const commandDefs = () => [
    new SlashCommandBuilder()
      .setName('imagine')
      .setDescription('Generate an image')
      .addStringOption((o) => o.setName('prompt').setDescription('What to draw').setRequired(true).setAutocomplete(true))
      .addIntegerOption((o) => o.setName('steps').setDescription('Steps'))
      .addAttachmentOption((o) => o.setName('image').setDescription('Input image'))
      .toJSON(),
    new SlashCommandBuilder()
      .setName('gen')
      .setDescription('Generate')
      .addSubcommand((s) =>
        s
          .setName('video')
          .setDescription('A video')
          .addStringOption((o) => o.setName('prompt').setDescription('Prompt').setRequired(true))
          .addNumberOption((o) => o.setName('seconds').setDescription('Length')),
      )
      .toJSON(),
  ];

  describe('fake discord: commands', () => {
    it('records application.commands.set(defs, guildId) and keeps ids on overwrite', async () => {
      const defs = commandDefs();
      const requestsBefore = fake.requests.length;
      const created = await client.application!.commands.set(defs, guild.id);
      expect([...created.values()].map((c) => c.name).sort()).toEqual(['gen', 'imagine']);
      const stored = fake.registeredCommands(guild.id);
      expect(stored.map((c) => c['name'])).toEqual(['imagine', 'gen']);
      expect(stored.every((c) => typeof c['id'] === 'string' && /^\d{17,19}$/.test(c['id']))).toBe(true);
      expect(stored[0]).toMatchObject({ guild_id: guild.id, application_id: fake.applicationId, type: 1 });
      expect(created.get(String(stored[0]?.['id']))?.name).toBe('imagine');

      const again = await client.application!.commands.set(defs, guild.id);
      expect([...again.keys()].sort()).toEqual([...created.keys()].sort());

      await client.application!.commands.set([{ name: 'help', description: 'Help' }]);
      expect(fake.registeredCommands().map((c) => c['name'])).toEqual(['help']);
      expect(fake.requests.slice(requestsBefore).filter((r) => r.method === 'PUT').map((r) => r.route)).toEqual([
        'guild-commands-overwrite',
        'guild-commands-overwrite',
        'global-commands-overwrite',
      ]);
    });

    it('rejects invalid command definitions with 50035', async () => {
      const error = await rejectionOf(client.application!.commands.set([{ name: 'Bad Name', description: 'x' }]));
      expect(error).toBeInstanceOf(DiscordAPIError);
      expect(error).toMatchObject({ code: 50035, status: 400 });
    });
  });

  describe('fake discord: interactions', () => {
    // The commands they use are registered whichever test ran first.
    beforeAll(async () => {
      await client.application!.commands.set(commandDefs(), guild.id);
    });

    it('slash command with an attachment option: options, download, deferReply + editReply with embed and file', async () => {
      const input = makePng(4, 3);
      const output = makePng(16, 9);
      const attachment = fake.addAttachment('in.png', input, 'image/png');
      const alice = fake.user({ username: 'alice2' });
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        const image = interaction.options.getAttachment('image', true);
        const downloaded = Buffer.from(await (await fetch(image.url)).arrayBuffer());
        await interaction.deferReply();
        await interaction.editReply({
          content: 'Done',
          embeds: [new EmbedBuilder().setTitle('img').setImage('attachment://out.png')],
          files: [{ attachment: output, name: 'out.png' }],
        });
        return {
          prompt: interaction.options.getString('prompt', true),
          steps: interaction.options.getInteger('steps'),
          image,
          downloaded,
          user: interaction.user.id,
          channel: interaction.channelId,
          guild: interaction.guildId,
          member: interaction.memberPermissions?.has(PermissionFlagsBits.SendMessages),
          commandId: interaction.commandId,
        };
      });
      const h = fake.slashCommand({ name: 'imagine', options: { prompt: 'a cat', steps: 4, image: attachment }, user: alice, channelId: art.id });
      const got = await seen;
      expect(got).toMatchObject({ prompt: 'a cat', steps: 4, user: alice.id, channel: art.id, guild: guild.id, member: true });
      expect(got.commandId).toBe(fake.registeredCommands(guild.id)[0]?.['id']);
      expect(got.image).toMatchObject({ name: 'in.png', contentType: 'image/png', size: input.length, width: 4, height: 3 });
      expect(got.downloaded.equals(input)).toBe(true);

      const ack = await h.waitForAck();
      expect(ack.type).toBe(5);
      expect(ack.ms).toBeLessThan(3000);
      const original = await h.waitForOriginal((m) => !m.loading);
      expect(original.content).toBe('Done');
      expect(original.attachments).toHaveLength(1);
      const [file] = original.attachments;
      expect(file?.filename).toBe('out.png');
      expect(file?.contentType).toBe('image/png');
      expect(file?.bytes.equals(output)).toBe(true);
      expect(original.embeds[0]).toMatchObject({ type: 'rich', title: 'img', image: { url: file?.url, width: 16, height: 9 } });
      expect(Buffer.from(await (await fetch(file!.url)).arrayBuffer()).equals(output)).toBe(true);
      expect(h.originalHistory().map((m) => m.loading)).toEqual([true, false]);
      expect(original.raw).toMatchObject({ id: original.id, channel_id: art.id, type: 20, webhook_id: fake.applicationId });

      const callback = fake.requests.find((r) => r.route === 'interaction-callback' && r.path.includes(h.id));
      expect(callback?.headers['authorization']).toBeUndefined();
      expect(callback?.query).toEqual({ with_response: 'false' });
      const edit = fake.requests.find((r) => r.route === 'webhook-edit' && r.path.endsWith('/messages/@original'));
      expect(edit?.multipart?.files[0]).toMatchObject({ field: 'files[0]', index: 0, filename: 'out.png', contentType: 'image/png' });
      expect(edit?.multipart?.files[0]?.bytes.equals(output)).toBe(true);
    });

    it('subcommands with typed options from the registered definition', async () => {
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await interaction.reply({ content: 'ok', flags: MessageFlags.Ephemeral });
        return [interaction.options.getSubcommand(), interaction.options.getString('prompt'), interaction.options.getNumber('seconds')];
      });
      fake.slashCommand({ name: 'gen', subcommand: 'video', options: { prompt: 'waves', seconds: 5 } });
      expect(await seen).toEqual(['video', 'waves', 5]);
    });

    it('guild roles reach the role cache; member roles, subcommand groups and channel options resolve', async () => {
      const curators = guild.roles[0]!;
      expect(client.guilds.cache.get(guild.id)?.roles.cache.get(curators.id)?.name).toBe('Curators');
      const member = fake.user({ username: 'curator' });
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand() || !interaction.inCachedGuild()) throw new Error('expected a command in a cached guild');
        await interaction.reply({ content: 'ok', flags: MessageFlags.Ephemeral });
        return [
          interaction.options.getSubcommandGroup(),
          interaction.options.getSubcommand(),
          interaction.options.getChannel('where')?.id,
          interaction.member.roles.cache.has(curators.id),
          interaction.memberPermissions.has(PermissionFlagsBits.ManageMessages),
        ];
      });
      fake.slashCommand({
        name: 'mod',
        subcommandGroup: 'review',
        subcommand: 'channel',
        options: { where: art },
        user: member,
        memberRoles: [curators.id],
        memberPermissions: PermissionFlagsBits.ViewChannel | PermissionFlagsBits.SendMessages,
      });
      expect(await seen).toEqual(['review', 'channel', art.id, true, false]);
    });

    it('ephemeral reply, with_response, fetchReply and deleteReply', async () => {
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        const response = await interaction.reply({ content: 'secret', flags: MessageFlags.Ephemeral, withResponse: true });
        const fetched = await interaction.fetchReply();
        return { response, fetched };
      });
      const h = fake.slashCommand({ name: 'imagine', options: { prompt: 'x' } });
      const { response, fetched } = await seen;
      expect(response.resource?.message?.content).toBe('secret');
      expect(response.interaction.responseMessageEphemeral).toBe(true);
      expect(fetched.content).toBe('secret');
      expect(h.ack()).toMatchObject({ type: 4, data: { content: 'secret', flags: 64 } });
      expect(h.original()).toMatchObject({ content: 'secret', ephemeral: true, flags: 64 });

      // Ephemeral messages are not visible through the channel routes.
      expect(await rejectionOf(textChannel(general.id).messages.fetch({ message: fetched.id, force: true }))).toMatchObject({ code: 10008 });

      const deleted = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await interaction.reply('bye');
        await interaction.deleteReply();
      });
      const h2 = fake.slashCommand({ name: 'imagine', options: { prompt: 'y' } });
      await deleted;
      expect(h2.original()?.deleted).toBe(true);
    });

    it('showModal, then a modal submit (action-row and label layouts)', async () => {
      const shown = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await interaction.showModal(
          new ModalBuilder()
            .setCustomId('edit-prompt')
            .setTitle('Edit prompt')
            .addLabelComponents(
              new LabelBuilder()
                .setLabel('Prompt')
                .setTextInputComponent(new TextInputBuilder().setCustomId('prompt').setStyle(TextInputStyle.Paragraph)),
              new LabelBuilder()
                .setLabel('Negative')
                .setTextInputComponent(new TextInputBuilder().setCustomId('negative').setStyle(TextInputStyle.Short).setRequired(false)),
            ),
        );
      });
      const h = fake.slashCommand({ name: 'imagine', options: { prompt: 'x' } });
      await shown;
      expect(h.ack()?.type).toBe(9);
      expect(h.modal()).toMatchObject({ custom_id: 'edit-prompt', title: 'Edit prompt' });
      expect(() => fake.modalSubmit({ from: h, fields: { nope: 'x' } })).toThrow(/no text input/);

      const submitted = handleNext(async (interaction) => {
        if (!interaction.isModalSubmit()) throw new Error('expected a modal submit');
        await interaction.reply({ content: `got ${interaction.fields.getTextInputValue('prompt')}` });
        return [interaction.customId, interaction.fields.getTextInputValue('prompt'), interaction.fields.getTextInputValue('negative'), interaction.user.id];
      });
      const m = fake.modalSubmit({ from: h, fields: { prompt: 'a dog' } });
      expect(await submitted).toEqual(['edit-prompt', 'a dog', '', h.user.id]);
      expect((m.payload['data'] as { components: Array<{ type: number }> }).components[0]?.type).toBe(18);
      expect((await m.waitForOriginal()).content).toBe('got a dog');

      const rows = handleNext(async (interaction) => {
        if (!interaction.isModalSubmit()) throw new Error('expected a modal submit');
        await interaction.deferUpdate().catch((error: unknown) => error);
        return interaction.fields.getTextInputValue('x');
      });
      const m2 = fake.modalSubmit({ customId: 'raw', fields: { x: 'y' } });
      expect(await rows).toBe('y');
      // deferUpdate is only valid for modals opened from a component.
      expect(m2.attempts()[0]).toMatchObject({ outcome: 'invalid', status: 400 });
    });

    it('a button press on a bot message, then update()', async () => {
      const posted = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await interaction.reply({
          content: 'Here you go',
          components: [
            new ActionRowBuilder<ButtonBuilder>().addComponents(
              new ButtonBuilder().setCustomId('again').setLabel('Again').setStyle(ButtonStyle.Primary),
              new ButtonBuilder().setCustomId('off').setLabel('Off').setStyle(ButtonStyle.Secondary).setDisabled(true),
            ),
          ],
        });
      });
      const h = fake.slashCommand({ name: 'imagine', options: { prompt: 'x' } });
      await posted;
      const message = await h.waitForOriginal();
      expect(() => fake.button({ customId: 'missing', message })).toThrow(/no component/);
      expect(() => fake.button({ customId: 'off', message })).toThrow(/disabled/);

      const pressed = handleNext(async (interaction) => {
        if (!interaction.isButton()) throw new Error('expected a button');
        await interaction.update({ content: 'Updated', components: [] });
        return [interaction.customId, interaction.message.id, interaction.message.content];
      });
      const b = fake.button({ customId: 'again', message });
      expect(await pressed).toEqual(['again', message.id, 'Here you go']);
      expect(b.ack()?.type).toBe(7);
      expect(b.original()).toMatchObject({ id: message.id, content: 'Updated', components: [] });
      // Same message: the command's original message shows the update too.
      expect(h.original()).toMatchObject({ content: 'Updated', revision: 1 });
    });

    it('autocomplete respond', async () => {
      const seen = handleNext(async (interaction) => {
        if (!interaction.isAutocomplete()) throw new Error('expected autocomplete');
        const focused = interaction.options.getFocused(true);
        await interaction.respond([{ name: `${focused.value}t`, value: `${focused.value}t` }]);
        return focused;
      });
      const h = fake.autocomplete({ name: 'imagine', options: { prompt: 'ca', steps: 3 }, focused: 'prompt' });
      expect(await seen).toMatchObject({ name: 'prompt', value: 'ca' });
      expect(h.autocompleteChoices()).toEqual([{ name: 'cat', value: 'cat' }]);
      expect(fake.requests.find((r) => r.path.includes(h.id))?.query).toEqual({});
    });

    it('followUp: the first one after a bare defer edits it, later ones are new messages', async () => {
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await interaction.deferReply({ flags: MessageFlags.Ephemeral });
        const first = await interaction.followUp('first');
        const second = await interaction.followUp({ content: 'second', files: [{ attachment: Buffer.from('hello'), name: 'a.txt' }] });
        return [first.id, second.id];
      });
      const h = fake.slashCommand({ name: 'imagine', options: { prompt: 'x' } });
      const [firstId, secondId] = await seen;
      expect(h.followUpEditedOriginal()).toBe(true);
      expect(h.original()).toMatchObject({ id: firstId, content: 'first', ephemeral: true, loading: false });
      const followUps = h.followUps();
      expect(followUps.map((m) => m.id)).toEqual([secondId]);
      expect(followUps[0]?.attachments[0]?.bytes.toString()).toBe('hello');
      expect(followUps[0]?.raw['interaction_metadata']).toMatchObject({ id: h.id, original_response_message_id: firstId });
    });

    it('DM interaction, user.send to a DM channel, closed DMs', async () => {
      const bob = fake.user({ username: 'bob' });
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await interaction.reply('in dm');
        // Without Partials.Channel discord.js does not cache a DM channel from an interaction, so
        // `interaction.channel` is null there (real library behaviour); channelId is set.
        return [interaction.guildId, interaction.channelId, interaction.channel, interaction.user.id, interaction.member];
      });
      const h = fake.slashCommand({ name: 'imagine', dm: true, user: bob, options: { prompt: 'x' } });
      expect(await seen).toEqual([null, fake.dmChannel(bob.id).id, null, bob.id, null]);
      expect(h.payload['context']).toBe(1);

      const carol = fake.user({ username: 'carol' });
      const user = await client.users.fetch(carol.id);
      const png = makePng(2, 2);
      const sent = await user.send({ content: 'your image', files: [{ attachment: png, name: 'x.png' }] });
      expect(fake.requests.some((r) => r.route === 'create-dm' && (r.json as { recipient_id?: string }).recipient_id === carol.id)).toBe(true);
      const [dm] = fake.dmMessages(carol.id);
      expect(dm).toMatchObject({ id: sent.id, content: 'your image', channelId: fake.dmChannel(carol.id).id });
      expect(dm?.attachments[0]?.bytes.equals(png)).toBe(true);

      const dave = fake.user({ username: 'dave', dmsClosed: true });
      expect(await rejectionOf((await client.users.fetch(dave.id)).send('hi'))).toMatchObject({ code: 50007, status: 403 });
    });

    it('channel.send with a file, waitForChannelMessage, edits, missing permissions', async () => {
      const png = makePng(3, 3);
      const channel = textChannel(general.id);
      const waiting = fake.waitForChannelMessage(general.id, (m) => m.content === 'hello');
      const sent = await channel.send({ content: 'hello', files: [{ attachment: png, name: 'p.png' }] });
      const recorded = await waiting;
      expect(recorded.id).toBe(sent.id);
      expect(recorded.attachments[0]?.bytes.equals(png)).toBe(true);
      expect(sent.attachments.first()?.url).toBe(recorded.attachments[0]?.url);

      await sent.edit({ content: 'hello again' });
      expect(fake.channelMessages(general.id).at(-1)).toMatchObject({ content: 'hello again', revision: 1 });
      expect(fake.channelMessages(general.id).at(-1)?.attachments).toHaveLength(1);
      await sent.delete();
      expect(fake.channelMessages(general.id).some((m) => m.id === sent.id)).toBe(false);

      expect(await rejectionOf(textChannel(locked.id).send('x'))).toMatchObject({ code: 50013, status: 403 });
      expect(await rejectionOf(channel.send({ content: '' }))).toMatchObject({ code: 50006, status: 400 });
      expect(await rejectionOf(channel.send({ content: 'x'.repeat(2001) }))).toMatchObject({ code: 50035 });
    });

    it('late first callback answers 10062', async () => {
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await sleep(250);
        return rejectionOf(interaction.deferReply());
      });
      const h = fake.slashCommand({ name: 'imagine', options: { prompt: 'x' }, ackDeadlineMs: 150 });
      const error = await seen;
      expect(error).toBeInstanceOf(DiscordAPIError);
      expect(error).toMatchObject({ code: 10062, status: 404, message: 'Unknown interaction' });
      expect(h.ack()).toBeUndefined();
      expect(h.attempts()[0]).toMatchObject({ type: 5, outcome: 'late', status: 404 });
      expect(h.attempts()[0]?.ms).toBeGreaterThanOrEqual(150);
    });

    it('a second callback answers 40060', async () => {
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await interaction.reply('first');
        return rejectionOf(
          client.rest.post(Routes.interactionCallback(interaction.id, interaction.token), { body: { type: 4, data: { content: 'again' } }, auth: false }),
        );
      });
      const h = fake.slashCommand({ name: 'imagine', options: { prompt: 'x' } });
      expect(await seen).toMatchObject({ code: 40060, status: 400 });
      expect(h.attempts().map((a) => a.outcome)).toEqual(['ok', 'duplicate']);
      expect(h.original()?.content).toBe('first');
    });

    it('an expired token makes editReply fail with 10015', async () => {
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await interaction.deferReply();
        fake.expireToken(interaction.token);
        return rejectionOf(interaction.editReply('too late'));
      });
      fake.slashCommand({ name: 'imagine', options: { prompt: 'x' } });
      expect(await seen).toMatchObject({ code: 10015, status: 404 });
    });

    it('webhook routes work without a client (delivery after a restart), within the token lifetime', async () => {
      const seen = handleNext(async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('expected a command');
        await interaction.deferReply();
      });
      const h = fake.slashCommand({ name: 'imagine', options: { prompt: 'x' } });
      await seen;
      const rest = new REST({ api: fake.apiUrl });
      const edited = (await rest.patch(Routes.webhookMessage(fake.applicationId, h.token, '@original'), {
        auth: false,
        body: { content: 'delivered' },
      })) as { content: string; id: string };
      expect(edited.content).toBe('delivered');
      expect(fake.requests.at(-1)?.path).toBe(`/webhooks/${fake.applicationId}/${h.token}/messages/@original`);
      fake.tokenLifetimeMs = 0;
      try {
        await sleep(5);
        expect(await rejectionOf(rest.get(Routes.webhookMessage(fake.applicationId, h.token, '@original'), { auth: false }))).toMatchObject({
          code: 10015,
        });
      } finally {
        fake.tokenLifetimeMs = 15 * 60 * 1000;
      }
    });

    it('a deleted channel answers 10003', async () => {
      const channel = textChannel(art.id);
      fake.deleteChannel(art.id);
      expect(await rejectionOf(channel.send('hello'))).toMatchObject({ code: 10003, status: 404 });
      expect(await rejectionOf(client.channels.fetch(art.id, { force: true }))).toMatchObject({ code: 10003 });
    });

    it('no interaction reached the client without a handler', () => {
      expect(unexpected).toEqual([]);
    });
  });
});
