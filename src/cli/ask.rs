//! `adbrag ask "question" --collection NAME`: the chat endpoint's answer, streamed to the
//! terminal, then the passages it cites.

use std::{io::Write, sync::Arc};

use futures::StreamExt;

use crate::{
    answer::{self, Citation, Event, Question},
    config::AskArgs,
    llm::{
        self,
        chat::{Message, Role},
    },
    store::collections,
};

pub async fn run(args: AskArgs) -> anyhow::Result<()> {
    let filter = super::filter(args.filter.as_deref())?;
    let (pool, dialect) = super::open(&args.database, Some(args.search.ef_search)).await?;
    let collection = collections::get(&pool, &args.tenant, &args.collection).await?;
    let embedder = llm::embedder(&args.embedding.config()?)?;
    let reranker = llm::rerank::reranker(&args.search.rerank.settings())?;
    let answerer = Arc::new(
        answer::answerer(&args.chat.config()?, args.chat.answer())?.with_reranker(reranker),
    );
    let question = Question {
        messages: vec![Message::new(Role::User, args.question)],
        top_k: args.top_k,
        filter,
        principals: None,
    };
    let prepared = answerer
        .prepare(
            &pool,
            embedder.as_ref(),
            &collection,
            &question,
            &args.search.options(dialect),
        )
        .await?;
    if args.json {
        let answer = answerer.answer(prepared).await?;
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }

    let mut out = std::io::stdout().lock();
    let mut events = std::pin::pin!(answerer.stream(prepared));
    while let Some(event) = events.next().await {
        match event {
            Event::Retrieval {
                extractive: true,
                found: true,
                ..
            } => writeln!(
                out,
                "(extractive answer: quoted from the documents; set ADBRAG_CHAT_BASE_URL for a written one)\n"
            )?,
            Event::Retrieval { .. } => {}
            Event::Delta { text } => {
                write!(out, "{text}")?;
                out.flush()?;
            }
            Event::Citations {
                citations,
                dropped_citations,
            } => {
                writeln!(out)?;
                print_citations(&mut out, &citations)?;
                if dropped_citations > 0 {
                    writeln!(
                        out,
                        "({dropped_citations} citation(s) pointing to no passage were removed)"
                    )?;
                }
            }
            Event::Done { usage, .. } => {
                if usage.total_tokens > 0 {
                    writeln!(
                        out,
                        "({} prompt + {} completion tokens)",
                        usage.prompt_tokens, usage.completion_tokens
                    )?;
                }
            }
            Event::Error { message, .. } => {
                writeln!(out)?;
                anyhow::bail!("{message}");
            }
        }
    }
    Ok(())
}

fn print_citations(out: &mut impl Write, citations: &[Citation]) -> std::io::Result<()> {
    if citations.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    for citation in citations {
        let pages = match (citation.page_from, citation.page_to) {
            (Some(from), Some(to)) if from != to => format!(", pp. {from}-{to}"),
            (Some(page), _) => format!(", p. {page}"),
            _ => String::new(),
        };
        let title = citation.title.as_deref().unwrap_or("untitled");
        writeln!(
            out,
            "[{}] {title} ({}{pages})",
            citation.number, citation.source_uri
        )?;
    }
    Ok(())
}
